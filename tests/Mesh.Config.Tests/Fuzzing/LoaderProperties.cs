using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>What one parse of a fuzzed document gave, and the property it broke, if any.</summary>
/// <param name="Violation">Which property failed and how; null when every one held.</param>
internal sealed record ParseOutcome(ConfigResult? Result, TimeSpan Elapsed, long AllocatedBytes, string? Violation);

/// <summary>
/// The properties every document must have, whatever its text: <see cref="MeshConfigLoader.Parse"/>
/// returns (no exception escapes), within <see cref="TimeLimit"/> and <see cref="AllocationLimit"/>,
/// with either a config or errors that each point at a place in the file and say in words what is
/// wrong, never an exception's name or stack trace.
/// </summary>
internal static class LoaderProperties
{
    public const string FileName = "fuzzed.yaml";

    /// <summary>Far above any real file's parse, which takes milliseconds; only a hang comes near.</summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(2);

    /// <summary>What one parse may allocate; an alias bomb expanded in memory would go far past it.</summary>
    public const long AllocationLimit = 200L * 1024 * 1024;

    /// <summary>Text of an exception leaking into a message, unless the document itself says it.</summary>
    private static readonly string[] LeakMarkers = ["Exception", "   at ", "System.", "YamlDotNet", "Mesh.Config", "Object reference", "--- End of", "Parameter '"];

    /// <param name="checkDeterminism">Also parse a second time and require the same result: the loader keeps no state between files.</param>
    public static ParseOutcome Check(MeshConfigLoader loader, string document, bool checkDeterminism = false)
    {
        // A task of its own, so a parse that hangs is abandoned at the time limit rather than hanging the run.
        var parse = Task.Run(() =>
        {
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var stopwatch = Stopwatch.StartNew();
            var result = loader.Parse(document, FileName);
            return (Result: result, stopwatch.Elapsed, Allocated: GC.GetAllocatedBytesForCurrentThread() - allocatedBefore);
        });
        try
        {
            if (!parse.Wait(TimeLimit))
            {
                return new ParseOutcome(null, TimeLimit, 0, $"hang: Parse did not return within {TimeLimit.TotalSeconds} s");
            }
        }
        catch (AggregateException ex)
        {
            return new ParseOutcome(null, TimeSpan.Zero, 0, $"crash: an exception escaped Parse: {ex.InnerException}");
        }

        var (result, elapsed, allocated) = parse.Result;
        var violation = Violation(result, document) ?? (allocated > AllocationLimit
            ? $"memory: Parse allocated {allocated / (1024 * 1024)} MiB, over the {AllocationLimit / (1024 * 1024)} MiB limit"
            : null);
        if (violation is null && checkDeterminism)
        {
            violation = SameResult(result, loader.Parse(document, FileName));
        }
        return new ParseOutcome(result, elapsed, allocated, violation);
    }

    private static string? Violation(ConfigResult? result, string document)
    {
        if (result is null)
        {
            return "result: Parse returned null";
        }
        if (result.IsValid)
        {
            return result.Errors.Count == 0 ? null : $"result: a valid config with {result.Errors.Count} errors";
        }
        if (result.Errors.Count == 0)
        {
            return "result: neither a config nor an error";
        }

        var (lines, columns) = Extent(document);
        ConfigError? previous = null;
        foreach (var error in result.Errors)
        {
            if (error.File != FileName)
            {
                return $"error: the error names the file '{error.File}', not '{FileName}': {error}";
            }
            // The end of a file that stops short of what YAML expects is reported on the line after its last.
            if (error.Line < 1 || error.Column < 1 || error.Line > lines + 1 || error.Column > columns + 1)
            {
                return $"error: the position {error.Line}:{error.Column} is outside the document's {lines} lines of at most {columns} characters: {error}";
            }
            if (string.IsNullOrWhiteSpace(error.Message))
            {
                return $"error: an empty message at {error.Line}:{error.Column}";
            }
            if (LeakMarkers.FirstOrDefault(m => error.Message.Contains(m, StringComparison.Ordinal) && !document.Contains(m, StringComparison.Ordinal)) is { } leak)
            {
                return $"error: the message has '{leak}', the text of an exception rather than words for the user: {error}";
            }
            if (previous is not null && (previous.Line, previous.Column).CompareTo((error.Line, error.Column)) > 0)
            {
                return $"error: the errors are not in file order: {previous} comes before {error}";
            }
            previous = error;
        }
        return null;
    }

    private static string? SameResult(ConfigResult first, ConfigResult second) =>
        first.IsValid == second.IsValid && Equals(first.Config, second.Config) && first.Errors.SequenceEqual(second.Errors)
            ? null
            : "determinism: a second parse of the same text gave another result";

    /// <summary>
    /// How many lines the document has and how long the longest is, counting every character YAML
    /// may take as a line break as one, so that the bound holds however the reader counts.
    /// </summary>
    private static (int Lines, int Columns) Extent(string document)
    {
        int lines = 1, longest = 0, current = 0;
        foreach (var c in document)
        {
            if (c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029')
            {
                lines++;
                longest = Math.Max(longest, current);
                current = 0;
            }
            else
            {
                current++;
            }
        }
        return (lines, Math.Max(longest, current));
    }

    /// <summary>
    /// The smallest document, made by removing runs of lines and then of characters, on which
    /// <paramref name="fails"/> still holds; tries until <paramref name="budget"/> runs out, and
    /// returns the smallest found so far.
    /// </summary>
    public static string Shrink(string document, Func<string, bool> fails, TimeSpan budget)
    {
        var clock = Stopwatch.StartNew();
        var lines = RemoveRuns(document.Split('\n').ToList(), l => fails(string.Join('\n', l)), budget, clock);
        var characters = RemoveRuns(string.Join('\n', lines).ToList(), c => fails(new string([.. c])), budget, clock);
        return new string([.. characters]);
    }

    /// <summary>Removes runs of items, halving the run length down to one, keeping each removal after which the document still fails.</summary>
    private static List<T> RemoveRuns<T>(List<T> items, Func<List<T>, bool> fails, TimeSpan budget, Stopwatch clock)
    {
        for (var run = Math.Max(1, items.Count / 2); run >= 1 && clock.Elapsed < budget; run /= 2)
        {
            for (var start = 0; start < items.Count && clock.Elapsed < budget;)
            {
                var candidate = items.Take(start).Concat(items.Skip(start + run)).ToList();
                if (candidate.Count < items.Count && fails(candidate))
                {
                    items = candidate;
                }
                else
                {
                    start += run;
                }
            }
        }
        return items;
    }

    /// <summary>The text as a C# string literal, so invisible characters show and it can be pasted into a test.</summary>
    public static string Literal(string text, int maxLength = 4_000)
    {
        var literal = new StringBuilder("\"");
        foreach (var c in text.Length > maxLength ? text[..maxLength] : text)
        {
            literal.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\0' => "\\0",
                < ' ' or > '~' => "\\u" + ((int)c).ToString("X4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        }
        literal.Append('"');
        return text.Length > maxLength ? $"{literal} (the first {maxLength} of {text.Length} characters)" : literal.ToString();
    }
}
