using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one key's value onto a section, returning the section with that key applied.</summary>
/// <param name="path">The key's dotted path for messages, such as <c>agent.cgroup</c> or <c>services[0].port</c>.</param>
internal delegate T KeyBinder<T>(T section, ConfigNode value, string path, ConfigErrorList errors);

/// <summary>A key a section accepts and what its value means.</summary>
/// <param name="Required">
/// For a key the section cannot do without, the line to add when it is missing, such as
/// <c>port: 8080</c>; null for an optional key.
/// </param>
internal sealed record ConfigKey<T>(string Name, KeyBinder<T> Bind, string? Required = null);

/// <summary>
/// The rules every mapping section shares: it is a mapping, its keys are plain case-sensitive
/// names from a fixed set, each appears once, and the required ones are there. Each section
/// only declares its keys.
/// </summary>
internal sealed class MappingBinder<T>
{
    private readonly Dictionary<string, KeyBinder<T>> _keys;
    private readonly string[] _names;
    private readonly ConfigKey<T>[] _required;
    private readonly IReadOnlyDictionary<string, string> _hints;

    /// <param name="keys">The keys in the order they are documented, which is the order messages list them.</param>
    /// <param name="hints">
    /// For keys that other tools spell differently (Istio's <c>retries</c> for <c>retry</c>), what
    /// to write instead; said when such a key is found, where a typo suggestion would not find it.
    /// </param>
    public MappingBinder(IReadOnlyList<ConfigKey<T>> keys, IReadOnlyDictionary<string, string>? hints = null)
    {
        _keys = keys.ToDictionary(k => k.Name, k => k.Bind, StringComparer.Ordinal);
        _names = [.. keys.Select(k => k.Name)];
        _required = [.. keys.Where(k => k.Required is not null)];
        _hints = hints ?? new Dictionary<string, string>();
    }

    /// <summary>The keys, in documented order, for messages such as "write one of ...".</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>
    /// Applies each key in <paramref name="node"/> to <paramref name="defaults"/>. An absent or
    /// empty section gives the defaults, so a section whose keys are all commented out is valid,
    /// unless it has required keys.
    /// </summary>
    /// <param name="path">The section's dotted path for messages, or null for the file's top level.</param>
    public T Bind(ConfigNode? node, T defaults, string? path, ConfigErrorList errors)
    {
        if (node is null)
        {
            return defaults;
        }
        if (node is ScalarNode { IsNull: true })
        {
            if (_required.Length > 0)
            {
                errors.Add(node, $"'{path}' is empty, but needs {RequiredList}; write them on their own lines, indented under it");
            }
            return defaults;
        }
        if (node is not MappingNode mapping)
        {
            errors.Add(node, $"{Where(path)} expects a mapping with the keys {KeyList}, but found {node.Description}; {MappingFix(path)}");
            return defaults;
        }

        var section = defaults;
        var seen = new Dictionary<string, ScalarNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (keyNode is not ScalarNode key)
            {
                errors.Add(keyNode, $"a key must be a plain name{In(path)}, but found {keyNode.Description}; write 'name: value'");
                continue;
            }
            if (seen.TryGetValue(key.Value, out var first))
            {
                errors.Add(key, $"duplicate key '{key.Value}'{In(path)}, first set at line {first.Line}; remove one of the two");
                continue;
            }
            seen.Add(key.Value, key);

            if (_keys.TryGetValue(key.Value, out var bind))
            {
                section = bind(section, value, path is null ? key.Value : $"{path}.{key.Value}", errors);
            }
            else
            {
                errors.Add(key, UnknownKey(key.Value, path));
            }
        }

        foreach (var required in _required)
        {
            if (!seen.ContainsKey(required.Name))
            {
                errors.Add(mapping, $"'{path}' has no '{required.Name}'; add '{required.Required}'");
            }
        }
        return section;
    }

    private static string Where(string? path) => path is null ? "the config file" : $"'{path}'";

    private static string In(string? path) => path is null ? "" : $" in '{path}'";

    private static string MappingFix(string? path) => path switch
    {
        null => "write one 'key: value' per line",
        _ when path.EndsWith(']') => "write the item's keys after its '- ', one 'key: value' per line",
        _ => $"write the keys on their own lines, indented under '{path[(path.LastIndexOf('.') + 1)..]}:'",
    };

    private string KeyList => string.Join(", ", _names);

    private string RequiredList => string.Join(", ", _required.Select(k => $"'{k.Name}'"));

    private string UnknownKey(string key, string? path)
    {
        if (_hints.TryGetValue(key, out var hint))
        {
            return $"unknown key '{key}'{In(path)}; {hint}";
        }
        var suggestion = KeySuggestion.Closest(key, _names);
        if (suggestion is null)
        {
            return $"unknown key '{key}'{In(path)}; the keys allowed here are {KeyList}";
        }
        var caseNote = string.Equals(key, suggestion, StringComparison.OrdinalIgnoreCase) ? " (keys are case-sensitive)" : "";
        return $"unknown key '{key}'{In(path)}; did you mean '{suggestion}'?{caseNote}";
    }
}
