namespace Mesh.Config;

/// <summary>One <c>key: value</c> of a label selector: a container is selected when it has every label with that value.</summary>
public readonly record struct LabelMatch(string Key, string Value);
