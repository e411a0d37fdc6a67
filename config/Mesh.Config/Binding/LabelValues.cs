using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Reads label selectors: a mapping of label keys to values, as Kubernetes' <c>matchLabels</c>.</summary>
internal static class LabelValues
{
    /// <summary>The labels in file order, or an empty list after reporting what is wrong.</summary>
    public static ValueList<LabelMatch> ReadSelector(ConfigNode node, string path, string example, ConfigErrorList errors)
    {
        if (node is not MappingNode mapping || mapping.Entries.Count == 0)
        {
            errors.Add(node, $"'{path}' expects labels and their values, but found {node.Description}; write '{path[(path.LastIndexOf('.') + 1)..]}: {{ {example} }}'");
            return [];
        }
        var labels = new List<LabelMatch>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in mapping.Entries)
        {
            if (ScalarValues.ReadText(entry.Key, path, "a label key", example, errors) is not { } key
                || ScalarValues.ReadText(entry.Value, $"{path}.{key}", "a label value", example, errors) is not { } value)
            {
                continue;
            }
            if (!seen.TryAdd(key, entry.Key.Line))
            {
                errors.Add(entry.Key, $"the label '{key}' is already selected at line {seen[key]} in '{path}'; keep one");
                continue;
            }
            labels.Add(new LabelMatch(key, value));
        }
        return ValueList.From(labels);
    }
}
