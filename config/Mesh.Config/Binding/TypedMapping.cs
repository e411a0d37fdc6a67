using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>
/// Gateway API's union shape, used by filters and path modifiers: a <c>type</c> word, and beside
/// it the one key that type's settings go under (<c>type: URLRewrite</c> with <c>urlRewrite:</c>).
/// </summary>
internal static class TypedMapping
{
    /// <summary>
    /// Reads <c>type</c> and checks that the key of that type is there and no other type's key is.
    /// Returns the type's key, or null after reporting what is wrong.
    /// </summary>
    /// <param name="types">Each type word and its key, in documented order.</param>
    /// <param name="unsupported">Gateway API types Mesh does not implement, refused with a message of their own.</param>
    public static string? CheckType(ConfigNode node, string path, IReadOnlyList<(string Type, string Key)> types,
        IReadOnlyList<string> unsupported, ConfigErrorList errors)
    {
        var typeList = string.Join(", ", types.Select(t => t.Type));
        if (node is not MappingNode mapping)
        {
            // Anything else than an empty value was reported by the mapping binder.
            if (node is ScalarNode { IsNull: true })
            {
                errors.Add(node, $"'{path}' is empty; write 'type:' with one of {typeList}, and beside it that type's settings");
            }
            return null;
        }
        var present = types.Where(t => mapping.Find(t.Key) is not null).ToList();
        if (mapping.Find("type") is not { } typeEntry)
        {
            errors.Add(mapping, present.Count == 1
                ? $"'{path}' has no 'type'; add 'type: {present[0].Type}' beside '{present[0].Key}', as Gateway API requires"
                : $"'{path}' has no 'type'; add 'type:' with one of {typeList}, and beside it that type's settings");
            return null;
        }
        if (ScalarValues.ReadText(typeEntry.Value, $"{path}.type", $"one of {typeList}", types[0].Type, errors) is not { } word)
        {
            return null;
        }
        var typeNode = typeEntry.Value;
        if (unsupported.Contains(word))
        {
            errors.Add(typeNode, $"'{path}.type' is '{word}', a Gateway API type that Mesh does not support; write one of {typeList}");
            return null;
        }
        var match = types.FirstOrDefault(t => t.Type == word);
        if (match.Type is null)
        {
            errors.Add(typeNode, $"'{path}.type' is '{word}', which is not a type here{ScalarValues.Suggest(word, types.Select(t => t.Type))}");
            return null;
        }

        var valid = true;
        foreach (var other in present.Where(t => t.Key != match.Key))
        {
            errors.Add(mapping.Find(other.Key)!.Key, $"'{other.Key}' belongs to type {other.Type}, but '{path}' is type {match.Type}; "
                + $"move it into an item of its own with 'type: {other.Type}', or remove it");
            valid = false;
        }
        if (mapping.Find(match.Key) is null)
        {
            errors.Add(mapping, $"'{path}' is type {match.Type} but has no '{match.Key}'; add '{match.Key}:' beside 'type' with the settings");
            valid = false;
        }
        return valid ? match.Key : null;
    }
}
