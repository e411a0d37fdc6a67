using Mesh.Config;

namespace Mesh.Agent;

/// <summary>
/// `mesh run` flags: most take precedence over the config file (null means "as the config says"); Verbose is passed on
/// to the node proxy's process.
/// </summary>
public sealed record AgentOverrides(string? CgroupPath, string? PinDirectory, bool NoSplice, string? ObjectDirectory, int ProxyPort, bool Verbose = false)
{
    /// <summary>The node proxy's port when none is given: where diverted connections land.</summary>
    public const int DefaultProxyPort = 15001;

    public string? CgroupFor(MeshConfig config) => CgroupPath ?? config.Agent.Cgroup;

    public string PinDirectoryFor(MeshConfig config) => PinDirectory ?? config.Agent.BpfPinDir;
}
