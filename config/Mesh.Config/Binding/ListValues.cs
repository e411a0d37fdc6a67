using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>One item of a list, with its node and whether it bound without errors.</summary>
/// <remarks>Checks across items (duplicates, unreachable rules) skip invalid items, whose values are only defaults.</remarks>
internal readonly record struct BoundItem<T>(ConfigNode Node, T Item, bool IsValid);

/// <summary>Binds lists: every item in order, each with its <c>path[i]</c> for messages.</summary>
internal static class ListValues
{
    /// <summary>An absent or empty value (<c>key:</c>) is an empty list, as an empty section is.</summary>
    /// <param name="example">An item to show when the value is not a list: "- name: catalog".</param>
    public static List<BoundItem<T>> Bind<T>(ConfigNode node, string path, string example, Func<ConfigNode, string, T> bindItem, ConfigErrorList errors)
    {
        if (node is ScalarNode { IsNull: true })
        {
            return [];
        }
        if (node is not SequenceNode sequence)
        {
            var flow = node is ScalarNode scalar ? $", or [{scalar.Value}] on one line" : "";
            errors.Add(node, $"'{path}' expects a list, but found {node.Description}; write each item on its own line starting with '- ', such as '{example}'{flow}");
            return [];
        }
        var items = new List<BoundItem<T>>(sequence.Items.Count);
        for (var i = 0; i < sequence.Items.Count; i++)
        {
            var before = errors.Count;
            var item = bindItem(sequence.Items[i], $"{path}[{i}]");
            items.Add(new BoundItem<T>(sequence.Items[i], item, errors.Count == before));
        }
        return items;
    }

    /// <summary>The values of the items that have one; a wrong scalar reads as null.</summary>
    public static ValueList<T> Values<T>(this List<BoundItem<T?>> items) where T : class =>
        ValueList.From(items.Where(i => i.Item is not null).Select(i => i.Item!));

    /// <inheritdoc cref="Values{T}(List{BoundItem{T}})"/>
    public static ValueList<T> StructValues<T>(this List<BoundItem<T?>> items) where T : struct =>
        ValueList.From(items.Where(i => i.Item.HasValue).Select(i => i.Item!.Value));

    /// <summary>Reports each valid item whose key equals an earlier one's, at the later item.</summary>
    /// <param name="describe">The duplicate and what to do, after "duplicate ": "header 'x-a' in ...; ...".</param>
    public static void ReportDuplicates<T, TKey>(IEnumerable<BoundItem<T>> items, Func<T, TKey?> key, IEqualityComparer<TKey> comparer,
        Func<TKey, BoundItem<T>, string> describe, ConfigErrorList errors, Func<BoundItem<T>, ConfigNode>? at = null)
        where TKey : notnull
    {
        var seen = new Dictionary<TKey, BoundItem<T>>(comparer);
        foreach (var item in items.Where(i => i.IsValid))
        {
            if (key(item.Item) is not { } k)
            {
                continue;
            }
            if (!seen.TryAdd(k, item))
            {
                errors.Add(at?.Invoke(item) ?? item.Node, describe(k, seen[k]));
            }
        }
    }
}
