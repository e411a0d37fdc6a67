using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>A YAML value to write out: what the schema generator builds before choosing how to spell it.</summary>
internal abstract record YamlValue;

/// <param name="Raw">Written exactly as given, unquoted, even where that breaks the YAML: for values that are syntax on purpose.</param>
internal sealed record YamlScalar(string Text, bool Raw = false) : YamlValue;

internal sealed record YamlMap(IReadOnlyList<KeyValuePair<string, YamlValue>> Entries) : YamlValue
{
    /// <summary>A mapping of the entries whose value is not null, so optional keys are left out by passing null.</summary>
    public static YamlMap Of(params (string Key, YamlValue? Value)[] entries) =>
        new([.. entries.Where(e => e.Value is not null).Select(e => KeyValuePair.Create(e.Key, e.Value!))]);
}

internal sealed record YamlList(IReadOnlyList<YamlValue> Items) : YamlValue
{
    public static YamlList Of(IEnumerable<YamlValue> items) => new([.. items]);
}

/// <summary>
/// Writes a <see cref="YamlValue"/> as YAML text, choosing at random between block and flow style
/// and between plain, single- and double-quoted scalars, so the loader sees the spellings people use.
/// </summary>
internal static partial class YamlWriter
{
    public static string Write(YamlValue root, FuzzRandom random)
    {
        var text = new StringBuilder();
        switch (root)
        {
            case YamlMap { Entries.Count: > 0 } map when !random.Chance(0.05):
                WriteBlockMap(text, map, 0, random, padFirst: true);
                break;
            case YamlList { Items.Count: > 0 } list when !random.Chance(0.05):
                WriteBlockList(text, list, 0, random);
                break;
            default:
                text.Append(Flow(root, random)).Append('\n');
                break;
        }
        return text.ToString();
    }

    private static void WriteBlockMap(StringBuilder text, YamlMap map, int indent, FuzzRandom random, bool padFirst)
    {
        for (var i = 0; i < map.Entries.Count; i++)
        {
            var (key, value) = map.Entries[i];
            if (i > 0 || padFirst)
            {
                text.Append(' ', indent);
            }
            text.Append(Scalar(key, flow: false, random)).Append(':');
            WriteValue(text, value, indent, random, underKey: true);
        }
    }

    private static void WriteBlockList(StringBuilder text, YamlList list, int indent, FuzzRandom random)
    {
        foreach (var item in list.Items)
        {
            text.Append(' ', indent).Append('-');
            WriteValue(text, item, indent, random, underKey: false);
        }
    }

    /// <summary>A value after 'key:' or '-', up to the end of its last line.</summary>
    private static void WriteValue(StringBuilder text, YamlValue value, int indent, FuzzRandom random, bool underKey)
    {
        switch (value)
        {
            case YamlScalar scalar:
                text.Append(' ').Append(Scalar(scalar, flow: false, random)).Append('\n');
                break;
            case YamlMap { Entries.Count: > 0 } map when !random.Chance(0.2):
                if (underKey)
                {
                    text.Append('\n');
                    WriteBlockMap(text, map, indent + 2, random, padFirst: true);
                }
                else
                {
                    // '- key: value' with the other keys under the first.
                    text.Append(' ');
                    WriteBlockMap(text, map, indent + 2, random, padFirst: false);
                }
                break;
            case YamlList { Items.Count: > 0 } list when !random.Chance(0.2):
                text.Append('\n');
                // A list under a key may start at the key's own indentation; a list in a list may not.
                WriteBlockList(text, list, underKey && random.Chance(0.5) ? indent : indent + 2, random);
                break;
            default:
                text.Append(' ').Append(Flow(value, random)).Append('\n');
                break;
        }
    }

    private static string Flow(YamlValue value, FuzzRandom random) => value switch
    {
        YamlScalar scalar => Scalar(scalar, flow: true, random),
        YamlMap map => map.Entries.Count == 0
            ? "{}"
            : "{ " + string.Join(", ", map.Entries.Select(e => $"{Scalar(e.Key, flow: true, random)}: {Flow(e.Value, random)}")) + " }",
        YamlList list => "[" + string.Join(", ", list.Items.Select(i => Flow(i, random))) + "]",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    private static string Scalar(string text, bool flow, FuzzRandom random) => Scalar(new YamlScalar(text), flow, random);

    private static string Scalar(YamlScalar scalar, bool flow, FuzzRandom random)
    {
        var text = scalar.Text;
        if (scalar.Raw)
        {
            return text;
        }
        if (text.Length > 0 && PlainSafe().IsMatch(text) && (flow || !random.Chance(0.1)))
        {
            return text;
        }
        if (text.All(IsPrintable) && random.Chance(0.5))
        {
            return "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
        }
        var quoted = new StringBuilder("\"");
        foreach (var c in text)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                _ when !IsPrintable(c) => "\\u" + ((int)c).ToString("X4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }
        return quoted.Append('"').ToString();
    }

    /// <summary>What YAML allows unescaped in a quoted scalar: no control characters, surrogate halves or non-characters.</summary>
    private static bool IsPrintable(char c) =>
        c is '\t' or (>= ' ' and <= '~') or '\u0085' or (>= '\u00A0' and <= '\uD7FF') or (>= '\uE000' and <= '\uFFFD');

    /// <summary>Text that reads as itself unquoted, in block and flow style alike.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9_/][A-Za-z0-9_./\-]*$")]
    private static partial Regex PlainSafe();
}
