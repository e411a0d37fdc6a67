using System.Text;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// Documents built to exhaust a YAML reader: aliases that multiply ("billion laughs"), nesting
/// deep enough to overflow a recursive reader's stack, and text that makes a quadratic step slow.
/// </summary>
internal static class HostileYaml
{
    /// <summary>The classic: each anchor a list of <paramref name="width"/> aliases of the one before, <paramref name="levels"/> deep.</summary>
    /// <param name="key">Where the last level goes: an unknown key, or a section the binders walk, such as <c>services</c>.</param>
    public static string Laughs(int levels, int width, string key = "lol")
    {
        var text = new StringBuilder("a0: &a0 [\"lol\"]\n");
        for (var level = 1; level <= levels; level++)
        {
            text.Append($"a{level}: &a{level} [{string.Join(", ", Enumerable.Repeat($"*a{level - 1}", width))}]\n");
        }
        return text.Append($"{key}: *a{levels}\n").ToString();
    }

    /// <summary>
    /// Aliases at each level of the schema: <paramref name="width"/> services, each with as many
    /// rules, each with as many matches, so binding visits width³ matches of a file of a few lines.
    /// </summary>
    public static string SchemaBomb(int width, string path = "/a", string type = "PathPrefix")
    {
        var text = new StringBuilder("services:\n  - &s\n    name: catalog\n    address: 127.0.0.10\n    port: 8080\n    rules:\n      - &r\n");
        text.Append($"        matches: [&m {{ path: {{ type: {type}, value: '{path}' }}, headers: [{{ name: x-a, value: b }}] }}");
        text.Append(string.Concat(Enumerable.Repeat(", *m", width - 1))).Append("]\n");
        text.Append(string.Concat(Enumerable.Repeat("      - *r\n", width - 1)));
        text.Append(string.Concat(Enumerable.Repeat("  - *s\n", width - 1)));
        return text.ToString();
    }

    /// <summary>Aliases as mapping keys and merge keys, which some readers expand eagerly.</summary>
    public static string KeyBomb(int width) =>
        "k: &k key\nv: &v [" + string.Join(", ", Enumerable.Repeat("x", width)) + "]\n"
        + "m: &m { " + string.Join(", ", Enumerable.Range(0, width).Select(i => $"k{i}: *v")) + " }\n"
        + "l4:\n" + string.Concat(Enumerable.Range(0, width).Select(i => $"  <<{i}: *m\n")) + "  *k : *m\n";

    /// <summary>A value nested <paramref name="depth"/> levels deep, in flow or block style.</summary>
    public static string Deep(int depth, DeepStyle style) => style switch
    {
        DeepStyle.FlowLists => "splice: " + new string('[', depth) + new string(']', depth) + "\n",
        DeepStyle.FlowMappings => "splice: " + string.Concat(Enumerable.Repeat("{a: ", depth)) + "x" + new string('}', depth) + "\n",
        DeepStyle.Unclosed => "services: " + new string('[', depth) + "\n",
        DeepStyle.BlockMappings => string.Concat(Enumerable.Range(0, depth).Select(i => new string(' ', i) + "a:\n")) + new string(' ', depth) + "x\n",
        _ => string.Concat(Enumerable.Range(0, depth).Select(i => new string(' ', 2 * i) + "-\n")) + new string(' ', 2 * depth) + "x\n",
    };

    /// <summary>A service and a reference to another whose names are <paramref name="length"/> characters long, which the typo suggestion compares.</summary>
    public static string LongNames(int length) => $$"""
        services:
          - name: {{new string('a', length)}}
            address: 127.0.0.10
            port: 8080
            rules:
              - backendRefs: [{ name: {{new string('b', length)}} }]
                filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: {{new string('c', length)}} } } }]
          - name: {{new string('d', length)}}
            address: 127.0.0.11
            port: 8080
        """;

    /// <summary>One slow-to-compile regular expression aliased <paramref name="count"/> times.</summary>
    public static string RegexAliases(int count) =>
        "x: &m { headers: [{ name: x-a, value: '\\p{L}{500}', type: RegularExpression }] }\n"
        + "services: [{ name: a, address: 127.0.0.1, port: 1, rules: [{ matches: [" + string.Join(",", Enumerable.Repeat("*m", count)) + "] }] }]\n";
}

public enum DeepStyle
{
    FlowLists,
    FlowMappings,
    Unclosed,
    BlockMappings,
    BlockLists,
}
