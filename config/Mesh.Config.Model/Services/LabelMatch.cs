namespace Mesh.Config;

/// <summary>One <c>key: value</c> of a label selector: a container is selected when it has every label with that value.</summary>
public readonly record struct LabelMatch(string Key, string Value)
{
    /// <summary>Whether <paramref name="labels"/> hold every match of <paramref name="selector"/>; an empty selector selects nothing.</summary>
    public static bool AllIn(IReadOnlyList<LabelMatch> selector, IReadOnlyDictionary<string, string> labels) =>
        selector.Count > 0 && selector.All(match => labels.TryGetValue(match.Key, out var value) && value == match.Value);
}
