using System.Text;
using System.Text.RegularExpressions;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// Damages a YAML document the ways files get damaged and attacked: flipped bits, lost or doubled
/// lines, shifted indentation, a cut-off end, and YAML features the config does not use (anchors
/// and alias bombs, tags, more documents, flow style, tabs, a BOM, NUL bytes, CRLF line ends).
/// </summary>
internal static partial class YamlMutations
{
    private static readonly string[] Tags =
    [
        "!!python/object:os.system", "!!python/object/apply:subprocess.check_output", "!!binary", "!!int", "!!str", "!!float", "!!map", "!!seq",
        "!!null", "!!bool", "!!timestamp", "!custom", "!", "!<tag:yaml.org,2002:str>", "!<!>", "!e!tag%21", "!!merge", "!!set", "!!omap",
    ];

    private static readonly string[] Fragments =
    [
        ":", ": ", "-", "- ", "? ", "|", "|-", ">", ">+", "&", "*", "!", "%", "@", "`", "\"", "'", "#", " #", "{", "}", "[", "]", ",", "\\",
        "---", "...", "<<: ", "\t", "\r", "\n", "\r\n", "\0", "\uFEFF", "\u0085", "\u2028", "\u2029", "\u200B", "\u202E", "\uD800", "\uDC00",
        "\u00A0", "🚀", "\u001B[31m", "\u0007", "\u007F", "~", "null", "0x", "-1", "99999999999999999999",
    ];

    private delegate string Mutation(string text, FuzzRandom random);

    private static readonly (string Name, Mutation Apply)[] All =
    [
        ("flip a bit", FlipBit),
        ("delete a line", (text, random) => EditLines(text, random, (lines, i) => lines.RemoveAt(i))),
        ("duplicate a line", (text, random) => EditLines(text, random, (lines, i) => lines.Insert(i, lines[i]))),
        ("duplicate lines", DuplicateBlock),
        ("swap two lines", (text, random) => EditLines(text, random, (lines, i) =>
        {
            var j = random.Int(lines.Count);
            (lines[i], lines[j]) = (lines[j], lines[i]);
        })),
        ("change indentation", (text, random) => EditLines(text, random, (lines, i) =>
            lines[i] = random.Chance(0.5) ? new string(' ', random.Int(1, 4)) + lines[i] : lines[i].TrimStart(' '))),
        ("indent with a tab", (text, random) => EditLines(text, random, (lines, i) => lines[i] = "\t" + lines[i].TrimStart(' '))),
        ("tab for a space", (text, random) => ReplaceOne(text, random, " ", "\t")),
        ("truncate", (text, random) => text[..random.Int(text.Length + 1)]),
        ("cut out a span", CutSpan),
        ("insert YAML syntax", (text, random) => Insert(text, random, random.Pick(Fragments))),
        ("insert an anchor and aliases", AnchorAndAliases),
        ("alias to no anchor", (text, random) => ReplaceValue(text, random, _ => "*nowhere")),
        ("insert an alias bomb", AliasBomb),
        ("insert a tag", (text, random) => ReplaceValue(text, random, value => $"{random.Pick(Tags)} {value}")),
        ("start another document", (text, random) => EditLines(text, random, (lines, i) => lines.Insert(i, random.Pick(["---", "--- # next", "...", "--- {}", "---\n---"])))),
        ("add a directive", (text, random) => random.Pick(["%YAML 1.2\n---\n", "%YAML 1.1\n---\n", "%YAML 2.0\n---\n", "%TAG ! tag:example.com,2000:\n---\n", "%FOO bar\n---\n", "%YAML 1.1\n%YAML 1.1\n---\n"]) + text),
        ("block to flow", (text, random) => ReplaceValue(text, random, value => random.Pick([$"[{value}]", $"{{ {value} }}", $"{{ a: {value} }}", $"[{value}, {value}]", "[]", "{}"]))),
        ("value to block scalar", (text, random) => ReplaceValue(text, random, value => $"|\n  {value}\n")),
        ("prefix a BOM", (text, _) => "\uFEFF" + text),
        ("insert a NUL", (text, random) => Insert(text, random, "\0")),
        ("CRLF line ends", (text, _) => text.ReplaceLineEndings("\r\n")),
        ("CR line ends", (text, _) => text.ReplaceLineEndings("\r")),
        ("mixed line ends", (text, random) => ReplaceOne(text, random, "\n", random.Pick(["\r\n", "\r", "\u0085", "\u2028"]))),
        ("insert Unicode", (text, random) => Insert(text, random, random.Next(FuzzValues.AnyText))),
        ("edge value", (text, random) => ReplaceValue(text, random, _ => YamlWriter.Write(FuzzValues.Edge(random), random).TrimEnd('\n').Replace("\n", " ", StringComparison.Ordinal))),
        ("long value", (text, random) => ReplaceValue(text, random, _ => FuzzValues.LongText(random))),
        ("deep nesting", (text, random) =>
        {
            var depth = random.Chance(0.5) ? random.Int(1, 80) : random.Int(80, 5_000);
            return ReplaceValue(text, random, value => new string('[', depth) + value + new string(']', random.Chance(0.9) ? depth : random.Int(depth)));
        }),
        ("duplicate the file", (text, _) => text.Length < 100_000 ? text + text : text),
    ];

    /// <summary>Beyond this, a document only gets slower to parse, not more interesting.</summary>
    private const int MaxLength = 1_000_000;

    /// <summary>Applies one to five mutations; returns the text and their names, for the failure report.</summary>
    public static (string Text, string Applied) Mutate(string text, FuzzRandom random)
    {
        var applied = new List<string>();
        for (var count = random.Int(1, 5); count > 0 && text.Length < MaxLength; count--)
        {
            var (name, apply) = random.Pick(All);
            text = apply(text, random);
            applied.Add(name);
        }
        return (text, string.Join(", ", applied));
    }

    private static string FlipBit(string text, FuzzRandom random)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length == 0)
        {
            return text;
        }
        for (var flips = random.Int(1, 3); flips > 0; flips--)
        {
            bytes[random.Int(bytes.Length)] ^= (byte)(1 << random.Int(8));
        }
        // Invalid UTF-8 decodes as U+FFFD, as File.ReadAllText reads it.
        return Encoding.UTF8.GetString(bytes);
    }

    private static string EditLines(string text, FuzzRandom random, Action<List<string>, int> edit)
    {
        var lines = text.Split('\n').ToList();
        edit(lines, random.Int(lines.Count));
        return string.Join('\n', lines);
    }

    private static string DuplicateBlock(string text, FuzzRandom random)
    {
        var lines = text.Split('\n').ToList();
        var start = random.Int(lines.Count);
        var block = lines.Skip(start).Take(random.Int(1, 20)).ToList();
        lines.InsertRange(random.Chance(0.5) ? start : random.Int(lines.Count + 1), block);
        return string.Join('\n', lines);
    }

    private static string CutSpan(string text, FuzzRandom random)
    {
        var start = random.Int(text.Length + 1);
        return text.Remove(start, random.Int(Math.Min(200, text.Length - start) + 1));
    }

    private static string Insert(string text, FuzzRandom random, string fragment) => text.Insert(random.Int(text.Length + 1), fragment);

    private static string ReplaceOne(string text, FuzzRandom random, string from, string to)
    {
        var at = text.IndexOf(from, random.Int(text.Length + 1), StringComparison.Ordinal);
        return at < 0 ? text : string.Concat(text.AsSpan(0, at), to, text.AsSpan(at + from.Length));
    }

    /// <summary>Rewrites the value of one 'key: value' line (or '- value' item); the text as it was when there is none.</summary>
    private static string ReplaceValue(string text, FuzzRandom random, Func<string, string> replace)
    {
        var values = ValuePattern().Matches(text);
        if (values.Count == 0)
        {
            return text;
        }
        var value = values[random.Int(values.Count)].Groups["value"];
        return string.Concat(text.AsSpan(0, value.Index), replace(value.Value), text.AsSpan(value.Index + value.Length));
    }

    /// <summary>Anchors one value and aliases it in one or more other places, so a value is shared between keys that expect different things.</summary>
    private static string AnchorAndAliases(string text, FuzzRandom random)
    {
        var name = random.Pick(["a", "x", "anchor", "a1", "日本"]);
        text = ReplaceValue(text, random, value => $"&{name} {value}");
        for (var aliases = random.Int(1, 3); aliases > 0; aliases--)
        {
            text = ReplaceValue(text, random, _ => $"*{name}");
        }
        return text;
    }

    private static string AliasBomb(string text, FuzzRandom random)
    {
        var width = random.Int(2, 12);
        var levels = random.Int(2, 10);
        var bomb = HostileYaml.Laughs(levels, width, "bomb").Replace("bomb: ", "# ", StringComparison.Ordinal);
        var alias = $"*a{levels}";
        return random.Int(3) switch
        {
            0 => HostileYaml.Laughs(levels, width, random.Pick(["lol", "services", "l4", "agent", "splice"])) + text,
            1 => bomb + ReplaceValue(text, random, _ => alias),
            _ => HostileYaml.SchemaBomb(random.Int(2, 60)) + text,
        };
    }

    [GeneratedRegex(@"(?:: |^\s*- )(?<value>[^\n#]+)", RegexOptions.Multiline)]
    private static partial Regex ValuePattern();
}
