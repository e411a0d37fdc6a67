using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>
/// Reads single values, reporting a wrong one with what to write instead. A value that is
/// wrong reads as null, so the caller keeps its default and binding goes on to the next key.
/// Numbers and words are read from the value's text whether it is quoted or not.
/// </summary>
internal static partial class ScalarValues
{
    /// <summary>
    /// An on/off switch. YAML 1.1's yes/no/y/n are refused: 'n' and 'no' are too easily meant
    /// as strings, and the file should read the same to every YAML tool.
    /// </summary>
    public static bool? ReadSwitch(ConfigNode node, string path, ConfigErrorList errors)
    {
        const string Words = "on, off, true or false";
        if (ReadScalar(node, path, Words, "off", errors) is not { } scalar)
        {
            return null;
        }
        switch (scalar.Value.ToLowerInvariant())
        {
            case "on" or "true":
                return true;
            case "off" or "false":
                return false;
        }
        errors.Add(scalar, scalar.IsNull
            ? $"'{path}' has no value; write {Words}, or remove the key to use the default"
            : $"'{path}' is '{scalar.Value}', which is not a switch; write {Words}");
        return null;
    }

    /// <summary>An absolute path on the node, such as a cgroup or bpffs directory.</summary>
    /// <param name="example">A path to show in messages.</param>
    /// <param name="defaultValue">What applies when the key is absent, said in words for messages.</param>
    public static string? ReadAbsolutePath(ConfigNode node, string path, string example, string defaultValue, ConfigErrorList errors)
    {
        if (ReadScalar(node, path, "an absolute path", example, errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
        {
            errors.Add(scalar, $"'{path}' is empty; write an absolute path such as {example}, or remove the key to use the default ({defaultValue})");
            return null;
        }
        // Paths are on the Linux node the agent runs on, whatever machine reads the file.
        if (!scalar.Value.StartsWith('/'))
        {
            errors.Add(scalar, $"'{path}' must be an absolute path, but '{scalar.Value}' is relative; write the full path starting with '/', such as {example}");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>Any text that is not empty.</summary>
    /// <param name="what">What the value is, for messages: "a header value".</param>
    public static string? ReadText(ConfigNode node, string path, string what, string example, ConfigErrorList errors)
    {
        if (ReadScalar(node, path, what, example, errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull || scalar.Value.Length == 0)
        {
            errors.Add(scalar, $"'{path}' is empty; write {what}, such as {example}");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    /// <param name="rangeHint">Said after a number out of range, such as "remove 'retry' to not retry"; null for none.</param>
    public static int? ReadInteger(ConfigNode node, string path, int min, int max, string example, ConfigErrorList errors, string? rangeHint = null)
    {
        var range = max == int.MaxValue ? $"{min} or more" : $"from {min} to {max}";
        if (ReadNonEmpty(node, path, $"a whole number {range}", example, errors) is not { } scalar)
        {
            return null;
        }
        if (!IntegerPattern().IsMatch(scalar.Value) || !long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not a whole number; write a whole number {range}, such as {example}");
            return null;
        }
        if (value < min || value > max)
        {
            errors.Add(scalar, $"'{path}' is {scalar.Value}, but must be {range}; {rangeHint ?? $"write a number such as {example}"}");
            return null;
        }
        return (int)value;
    }

    /// <summary>A number, fractions allowed, above (or from) <paramref name="min"/> up to <paramref name="max"/>.</summary>
    public static double? ReadNumber(ConfigNode node, string path, double min, bool minExcluded, double max, string example, ConfigErrorList errors, string? rangeHint = null)
    {
        var range = (minExcluded ? $"above {Format(min)}" : $"from {Format(min)}") + (double.IsPositiveInfinity(max) ? "" : $" up to {Format(max)}");
        if (ReadNonEmpty(node, path, $"a number {range}", example, errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.Value.EndsWith('%') && DecimalPattern().IsMatch(scalar.Value[..^1]))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}'; write the number without the % sign, such as {scalar.Value[..^1]}");
            return null;
        }
        if (!DecimalPattern().IsMatch(scalar.Value) || !double.TryParse(scalar.Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not a number; write a number {range} with '.' for a fraction, such as {example}");
            return null;
        }
        if (value < min || (minExcluded && value == min) || value > max)
        {
            errors.Add(scalar, $"'{path}' is {scalar.Value}, but must be {range}; {rangeHint ?? $"write a number such as {example}"}");
            return null;
        }
        return value;
    }

    /// <summary>
    /// A size in bytes: a whole number, or one with the unit Ki, Mi or Gi (powers of 1024, as Kubernetes writes memory),
    /// such as 65536, 64Ki or 10Mi, from <paramref name="min"/> to <paramref name="max"/> bytes. Decimal units (k, M,
    /// MB) are refused rather than guessed at: whether 10M meant 10,000,000 or 10,485,760 bytes is the writer's call.
    /// </summary>
    public static long? ReadSize(ConfigNode node, string path, long min, long max, string example, ConfigErrorList errors, string? rangeHint = null)
    {
        var range = $"from {FormatSize(min)} to {FormatSize(max)}";
        if (ReadNonEmpty(node, path, $"a size {range}", example, errors) is not { } scalar)
        {
            return null;
        }
        var text = scalar.Value;
        var match = SizePattern().Match(text);
        if (!match.Success)
        {
            errors.Add(scalar, $"'{path}' is '{text}', which is not a size; {SizeFix(text, example)}");
            return null;
        }
        var unit = match.Groups[2].Value switch
        {
            "Ki" => 1L << 10,
            "Mi" => 1L << 20,
            "Gi" => 1L << 30,
            _ => 1L,
        };
        // Digits beyond a long are out of range as much as a long beyond max is.
        var inRange = long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount) && amount <= long.MaxValue / unit;
        var value = inRange ? amount * unit : long.MaxValue;
        if (value < min || value > max)
        {
            errors.Add(scalar, $"'{path}' is {text}, but must be {range}; {rangeHint ?? $"write a size such as {example}"}");
            return null;
        }
        return value;
    }

    /// <summary>A size as the file would write it: in the largest of Gi, Mi and Ki that divides it, else in bytes.</summary>
    public static string FormatSize(long bytes) => bytes switch
    {
        > 0 when bytes % (1L << 30) == 0 => $"{bytes >> 30}Gi",
        > 0 when bytes % (1L << 20) == 0 => $"{bytes >> 20}Mi",
        > 0 when bytes % (1L << 10) == 0 => $"{bytes >> 10}Ki",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>What to write instead of a size in another tool's spelling (10MB, 64k, 1.5Mi, 10MiB), or the general form.</summary>
    private static string SizeFix(string text, string example)
    {
        const string General = "write a whole number of bytes, or one with the unit Ki, Mi or Gi (powers of 1024)";
        var match = SizeTypoPattern().Match(text);
        if (!match.Success)
        {
            return $"{General}, such as {example}";
        }
        var number = match.Groups[1].Value;
        var unit = match.Groups[2].Value;
        var lower = unit.ToLowerInvariant();
        if (lower is "b" or "byte" or "bytes")
        {
            return number.Contains('.') ? $"{General}, such as {example}" : $"write {number} without a unit: a size without one is in bytes";
        }
        if (lower is "t" or "ti" or "tb" or "tib" && !number.Contains('.') && number.Length <= 9)
        {
            return $"the largest unit is Gi; write {(long.Parse(number, CultureInfo.InvariantCulture) * 1024).ToString(CultureInfo.InvariantCulture)}Gi";
        }
        var binary = lower[0] switch
        {
            'k' => "Ki",
            'm' => "Mi",
            'g' => "Gi",
            _ => null,
        };
        if (binary is null || lower.Length > 3 || (lower.Length > 1 && lower[1..] is not ("b" or "i" or "ib")))
        {
            return $"{General}, such as {example}";
        }
        if (number.Contains('.'))
        {
            var smaller = binary == "Ki" ? "" : binary == "Mi" ? "Ki" : "Mi";
            // Short enough that × 1024 cannot overflow a decimal.
            return number.Length <= 20 && decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount)
                && amount * 1024 is var scaled && scaled == decimal.Truncate(scaled)
                ? $"write a whole number: {number}{binary} is {scaled.ToString("0", CultureInfo.InvariantCulture)}{smaller}"
                : $"write a whole number of {(smaller.Length == 0 ? "bytes" : smaller)}, such as {example}";
        }
        if (unit == binary)
        {
            return $"write {number}{binary}, without a space";
        }
        if (lower.Length == 2 && lower[1] == 'i')
        {
            return $"write {number}{binary} (the case matters)";
        }
        if (lower.Length == 3 && lower.EndsWith("ib", StringComparison.Ordinal))
        {
            return $"write {number}{binary}: the B is implied";
        }
        return $"'{unit}' is not a unit here, so as not to guess between 1000 and 1024; write {number}{binary} for {number} × {UnitBytes(binary)} bytes, "
            + "or the number of bytes itself";
    }

    private static string UnitBytes(string unit) => unit switch
    {
        "Ki" => "1024",
        "Mi" => "1024²",
        _ => "1024³",
    };

    /// <summary>A share of requests, 0 to 100 (fractions allowed).</summary>
    public static double? ReadPercent(ConfigNode node, string path, ConfigErrorList errors) =>
        ReadNumber(node, path, 0, minExcluded: false, 100, "10", errors, "write a percentage without the % sign, such as 10 or 0.5");

    /// <summary>One of a fixed set of words, such as an enum's Gateway API spelling. Words are case-sensitive, as in Gateway API.</summary>
    public static TValue? ReadWord<TValue>(ConfigNode node, string path, IReadOnlyList<(string Word, TValue Value)> words, ConfigErrorList errors)
        where TValue : struct
    {
        var list = string.Join(", ", words.Select(w => w.Word));
        if (ReadNonEmpty(node, path, $"one of {list}", words[0].Word, errors) is not { } scalar)
        {
            return null;
        }
        foreach (var (word, value) in words)
        {
            if (word == scalar.Value)
            {
                return value;
            }
        }
        // A typo suggestion for numbers would be noise: 305 is no more 'meant' as 301 than as 303.
        var fix = IntegerPattern().IsMatch(scalar.Value) ? $"; write one of {list}" : Suggest(scalar.Value, words.Select(w => w.Word));
        errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not one of {list}{fix}");
        return null;
    }

    /// <summary>
    /// A Gateway API duration (GEP-2257): up to four whole numbers of 1 to 5 digits, each with a
    /// unit h, m, s or ms, such as 500ms, 5s or 1m30s. It must be longer than 0.
    /// </summary>
    public static TimeSpan? ReadDuration(ConfigNode node, string path, string example, ConfigErrorList errors)
    {
        const string Units = "the units h, m, s or ms";
        if (ReadNonEmpty(node, path, $"a duration such as {example}", example, errors) is not { } scalar)
        {
            return null;
        }
        var text = scalar.Value;
        if (IntegerPattern().IsMatch(text))
        {
            errors.Add(scalar, $"'{path}' is '{text}', which has no unit; write {text}s for seconds or {text}ms for milliseconds");
            return null;
        }
        var parts = DurationPart().Matches(text);
        if (parts.Count == 0 || parts.Count > 4 || parts.Sum(p => p.Length) != text.Length)
        {
            errors.Add(scalar, $"'{path}' is '{text}', which is not a Gateway API duration; write whole numbers with {Units}, such as {example}, 1500ms or 1m30s");
            return null;
        }
        var duration = TimeSpan.Zero;
        foreach (Match part in parts)
        {
            var amount = int.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            duration += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(amount),
                "m" => TimeSpan.FromMinutes(amount),
                "s" => TimeSpan.FromSeconds(amount),
                _ => TimeSpan.FromMilliseconds(amount),
            };
        }
        if (duration <= TimeSpan.Zero)
        {
            errors.Add(scalar, $"'{path}' is '{text}', but a duration must be longer than 0; write one such as {example}, or remove the key");
            return null;
        }
        return duration;
    }

    /// <summary>A duration of a rule's policy: from <paramref name="min"/> to <see cref="PolicyLimits.MaxDuration"/> (a day).</summary>
    public static TimeSpan? ReadPolicyDuration(ConfigNode node, string path, string example, TimeSpan min, string why, ConfigErrorList errors)
    {
        if (ReadDuration(node, path, example, errors) is not { } duration)
        {
            return null;
        }
        if (duration < min || duration > PolicyLimits.MaxDuration)
        {
            var least = min == TimeSpan.Zero ? "" : $"at least {(int)min.TotalMilliseconds}ms and ";
            errors.Add(node, $"'{path}' must be {least}at most 24h{why}; write a duration such as {example}");
            return null;
        }
        return duration;
    }

    /// <summary>A DNS label (RFC 1123), as Kubernetes names are: what services and rules are called.</summary>
    public static string? ReadName(ConfigNode node, string path, string example, ConfigErrorList errors)
    {
        if (ReadNonEmpty(node, path, "a name", example, errors) is not { } scalar)
        {
            return null;
        }
        if (!DnsLabelPattern().IsMatch(scalar.Value))
        {
            var fixedName = scalar.Value.ToLowerInvariant().Replace('_', '-').Replace('.', '-');
            var suggestion = DnsLabelPattern().IsMatch(fixedName) ? $"; write '{fixedName}'" : $", such as {example}";
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not a DNS label: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit{suggestion}");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>A host name as Gateway API's PreciseHostname: lower-case DNS labels joined by dots, no wildcard.</summary>
    public static string? ReadHostname(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ReadNonEmpty(node, path, "a host name", "api.example.com", errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.Value.Length > 253 || !HostnamePattern().IsMatch(scalar.Value))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not a host name; write lower-case DNS labels joined by dots, without port or wildcard, such as api.example.com");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>An HTTP header or query parameter name: an RFC 9110 token.</summary>
    public static string? ReadHeaderName(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ReadNonEmpty(node, path, "a header name", "x-env", errors) is not { } scalar)
        {
            return null;
        }
        if (!TokenPattern().IsMatch(scalar.Value))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', which is not a valid name: use letters, digits and !#$%&'*+-.^_`|~ without spaces or ':', such as x-env");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>A header value: any text without control characters (other than tab), which would split or corrupt the header.</summary>
    public static string? ReadHeaderValue(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ReadScalar(node, path, "a header value", "canary", errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull)
        {
            errors.Add(scalar, $"'{path}' has no value; write the header value, or \"\" for an empty one");
            return null;
        }
        if (scalar.Value.Any(c => char.IsControl(c) && c != '\t'))
        {
            errors.Add(scalar, $"'{path}' contains a line break or control character, which a header value cannot carry; write it on one line without them");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>A regular expression as the proxy compiles it (<see cref="RouteRegex"/>), with .NET's message when it does not compile.</summary>
    public static string? ReadRegex(ConfigNode node, string path, string example, ConfigErrorList errors)
    {
        if (ReadNonEmpty(node, path, "a regular expression", example, errors) is not { } scalar)
        {
            return null;
        }
        if (CompiledPatterns.GetValue(scalar, static s => CompilePattern(s.Value)).Error is { } error)
        {
            errors.Add(scalar, $"'{path}' is not a valid regular expression: {error}; fix the pattern (it must match the whole value; "
                + "backreferences and lookarounds are not supported, as in Envoy's RE2), and quote it in single quotes so YAML keeps '\\' as written");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>
    /// Each pattern node compiled so far, with .NET's message when it did not compile. An alias
    /// repeats a node rather than copying it, so a pattern aliased thousands of times is compiled
    /// once; the nodes are held weakly, and forgotten with the file's tree.
    /// </summary>
    private static readonly ConditionalWeakTable<ScalarNode, PatternCheck> CompiledPatterns = new();

    /// <param name="Error">Why the pattern does not compile, or null when it does.</param>
    private sealed record PatternCheck(string? Error);

    private static PatternCheck CompilePattern(string pattern)
    {
        try
        {
            RouteRegex.Create(pattern);
            return new PatternCheck(null);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            return new PatternCheck(ex.Message.TrimEnd('.'));
        }
    }

    /// <summary>The node as a scalar, or null after reporting a mapping or list where a single value belongs.</summary>
    /// <param name="expected">What belongs here, for the message: "an absolute path".</param>
    /// <param name="example">A value to show in the message.</param>
    public static ScalarNode? ReadScalar(ConfigNode node, string path, string expected, string example, ConfigErrorList errors)
    {
        if (node is ScalarNode scalar)
        {
            return scalar;
        }
        var name = path[(path.LastIndexOf('.') + 1)..];
        var line = name.EndsWith(']') ? $"'- {example}'" : $"'{name}: {example}'";
        errors.Add(node, $"'{path}' expects {expected}, but found {node.Description}; write a single value on the key's line, such as {line}");
        return null;
    }

    /// <summary>The closest of <paramref name="known"/> as "; did you mean 'X'?", or the list to choose from.</summary>
    public static string Suggest(string unknown, IEnumerable<string> known)
    {
        var list = known.ToList();
        var suggestion = KeySuggestion.Closest(unknown, list);
        return suggestion is null
            ? $"; write one of {string.Join(", ", list)}"
            : string.Equals(unknown, suggestion, StringComparison.OrdinalIgnoreCase)
                ? $"; write '{suggestion}' (the case matters)"
                : $"; did you mean '{suggestion}'?";
    }

    private static ScalarNode? ReadNonEmpty(ConfigNode node, string path, string expected, string example, ConfigErrorList errors)
    {
        if (ReadScalar(node, path, expected, example, errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
        {
            errors.Add(scalar, $"'{path}' has no value; write {expected}, such as {example}, or remove the key");
            return null;
        }
        return scalar;
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^[+-]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")]
    private static partial Regex DecimalPattern();

    [GeneratedRegex(@"^([0-9]+)(Ki|Mi|Gi)?$")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]*)?) ?([A-Za-z]+)$")]
    private static partial Regex SizeTypoPattern();

    [GeneratedRegex(@"\G([0-9]{1,5})(ms|h|m|s)")]
    private static partial Regex DurationPart();

    [GeneratedRegex(@"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabelPattern();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")]
    private static partial Regex HostnamePattern();

    [GeneratedRegex(@"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")]
    private static partial Regex TokenPattern();
}
