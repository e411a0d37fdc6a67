namespace Mesh.Config.Syntax;

/// <summary>
/// A YAML node with the position it starts at. The config keeps its own small tree rather than
/// YamlDotNet's representation model because that model throws on the first duplicate key,
/// which would hide every error after it; this one keeps duplicates for the binders to report.
/// </summary>
internal abstract record ConfigNode(int Line, int Column)
{
    /// <summary>What the node is, as said in an error: "a mapping", "the value 'on'".</summary>
    public abstract string Description { get; }
}

internal sealed record ScalarNode(string Value, bool IsPlain, int Line, int Column) : ConfigNode(Line, Column)
{
    /// <summary>YAML's null: an empty plain value (<c>key:</c>), <c>~</c> or <c>null</c>. A quoted "" is an empty string.</summary>
    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override string Description => IsNull ? "no value" : $"the value '{Value}'";
}

internal sealed record MappingNode(IReadOnlyList<MappingEntry> Entries, int Line, int Column) : ConfigNode(Line, Column)
{
    /// <summary>The first entry whose key is the plain name <paramref name="key"/>, or null; for checks that span several keys.</summary>
    public MappingEntry? Find(string key) =>
        Entries.FirstOrDefault(e => e.Key is ScalarNode scalar && scalar.Value == key);

    /// <summary>The value at <paramref name="keys"/> below this mapping (<c>path</c>, then <c>type</c>), or null when any is missing.</summary>
    public ConfigNode? ValueAt(params ReadOnlySpan<string> keys)
    {
        ConfigNode? node = this;
        foreach (var key in keys)
        {
            node = (node as MappingNode)?.Find(key)?.Value;
        }
        return node;
    }

    public override string Description => "a mapping";
}

internal sealed record SequenceNode(IReadOnlyList<ConfigNode> Items, int Line, int Column) : ConfigNode(Line, Column)
{
    public override string Description => "a list";
}

/// <summary>One <c>key: value</c> pair, in file order; keys may repeat.</summary>
internal sealed record MappingEntry(ConfigNode Key, ConfigNode Value);
