using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>agent</c> section.</summary>
internal sealed class AgentSettingsBinder
{
    private readonly MappingBinder<AgentSettings> _mapping = new("agent",
    [
        new("cgroup", (agent, value, errors) =>
            ScalarValues.ReadAbsolutePath(value, "agent.cgroup", "/sys/fs/cgroup", "the cgroup v2 mount found in /proc/mounts", errors) is { } path
                ? agent with { Cgroup = path }
                : agent),
        new("bpfPinDir", (agent, value, errors) =>
            ScalarValues.ReadAbsolutePath(value, "agent.bpfPinDir", AgentSettings.DefaultBpfPinDir, AgentSettings.DefaultBpfPinDir, errors) is { } path
                ? agent with { BpfPinDir = path }
                : agent),
    ]);

    public AgentSettings Bind(ConfigNode? node, ConfigErrorList errors) => _mapping.Bind(node, new AgentSettings(), errors);
}
