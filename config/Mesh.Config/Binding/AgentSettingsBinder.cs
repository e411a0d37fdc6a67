using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>agent</c> section.</summary>
internal sealed class AgentSettingsBinder
{
    private readonly MappingBinder<AgentSettings> _mapping = new(
    [
        new("cgroup", (agent, value, path, errors) =>
            ScalarValues.ReadAbsolutePath(value, path, "/sys/fs/cgroup", "the cgroup v2 mount found in /proc/mounts", errors) is { } dir
                ? agent with { Cgroup = dir }
                : agent),
        new("bpfPinDir", (agent, value, path, errors) =>
            ScalarValues.ReadAbsolutePath(value, path, AgentSettings.DefaultBpfPinDir, AgentSettings.DefaultBpfPinDir, errors) is { } dir
                ? agent with { BpfPinDir = dir }
                : agent),
        new("drainTimeout", (agent, value, path, errors) =>
            ScalarValues.ReadDuration(value, path, "5s", errors) is { } timeout
                ? agent with { DrainTimeout = timeout }
                : agent),
    ]);

    public AgentSettings Bind(ConfigNode? node, string path, ConfigErrorList errors) => _mapping.Bind(node, new AgentSettings(), path, errors);
}
