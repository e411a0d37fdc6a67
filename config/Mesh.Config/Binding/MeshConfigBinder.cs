using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the file's top level: its own keys, and each section through that section's binder.</summary>
internal sealed class MeshConfigBinder
{
    private readonly MappingBinder<MeshConfig> _mapping;

    public MeshConfigBinder(AgentSettingsBinder agent)
    {
        _mapping = new MappingBinder<MeshConfig>(section: null,
        [
            new("splice", (config, value, errors) =>
                ScalarValues.ReadSwitch(value, "splice", errors) is { } splice ? config with { Splice = splice } : config),
            new("agent", (config, value, errors) => config with { Agent = agent.Bind(value, errors) }),
        ]);
    }

    /// <param name="root">The document's root, or null for a file with no document, which means all defaults.</param>
    public MeshConfig Bind(ConfigNode? root, ConfigErrorList errors) => _mapping.Bind(root, new MeshConfig(), errors);
}
