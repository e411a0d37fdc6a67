using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one key's value onto a section, returning the section with that key applied.</summary>
internal delegate T KeyBinder<T>(T section, ConfigNode value, ConfigErrorList errors);

/// <summary>A key a section accepts and what its value means.</summary>
internal sealed record ConfigKey<T>(string Name, KeyBinder<T> Bind);

/// <summary>
/// The rules every mapping section shares: it is a mapping, its keys are plain case-sensitive
/// names from a fixed set, and each appears once. Each section only declares its keys.
/// </summary>
internal sealed class MappingBinder<T>
{
    private readonly string? _section;
    private readonly Dictionary<string, KeyBinder<T>> _keys;
    private readonly string[] _names;

    /// <param name="section">The section's dotted path for messages, or null for the file's top level.</param>
    /// <param name="keys">The keys in the order they are documented, which is the order messages list them.</param>
    public MappingBinder(string? section, IReadOnlyList<ConfigKey<T>> keys)
    {
        _section = section;
        _keys = keys.ToDictionary(k => k.Name, k => k.Bind, StringComparer.Ordinal);
        _names = [.. keys.Select(k => k.Name)];
    }

    /// <summary>
    /// Applies each key in <paramref name="node"/> to <paramref name="defaults"/>. An absent or
    /// empty section gives the defaults, so a section whose keys are all commented out is valid.
    /// </summary>
    public T Bind(ConfigNode? node, T defaults, ConfigErrorList errors)
    {
        if (node is null or ScalarNode { IsNull: true })
        {
            return defaults;
        }
        if (node is not MappingNode mapping)
        {
            var where = _section is null ? "the config file" : $"'{_section}'";
            var fix = _section is null ? "write one 'key: value' per line" : $"write the keys on their own lines, indented under '{_section}:'";
            errors.Add(node, $"{where} expects a mapping with the keys {KeyList}, but found {node.Description}; {fix}");
            return defaults;
        }

        var section = defaults;
        var seen = new Dictionary<string, ScalarNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Entries)
        {
            if (keyNode is not ScalarNode key)
            {
                errors.Add(keyNode, $"a key must be a plain name{InSection}, but found {keyNode.Description}; write 'name: value'");
                continue;
            }
            if (seen.TryGetValue(key.Value, out var first))
            {
                errors.Add(key, $"duplicate key '{key.Value}'{InSection}, first set at line {first.Line}; remove one of the two");
                continue;
            }
            seen.Add(key.Value, key);

            if (_keys.TryGetValue(key.Value, out var bind))
            {
                section = bind(section, value, errors);
            }
            else
            {
                errors.Add(key, UnknownKey(key.Value));
            }
        }
        return section;
    }

    private string InSection => _section is null ? "" : $" in '{_section}'";

    private string KeyList => string.Join(", ", _names);

    private string UnknownKey(string key)
    {
        var suggestion = KeySuggestion.Closest(key, _names);
        if (suggestion is null)
        {
            return $"unknown key '{key}'{InSection}; the keys allowed here are {KeyList}";
        }
        var caseNote = string.Equals(key, suggestion, StringComparison.OrdinalIgnoreCase) ? " (keys are case-sensitive)" : "";
        return $"unknown key '{key}'{InSection}; did you mean '{suggestion}'?{caseNote}";
    }
}
