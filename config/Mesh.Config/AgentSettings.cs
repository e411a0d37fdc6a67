namespace Mesh.Config;

/// <summary>The <c>agent</c> section: where the agent attaches in the kernel.</summary>
public sealed record AgentSettings
{
    public const string DefaultBpfPinDir = "/sys/fs/bpf/mesh";

    /// <summary>
    /// The cgroup v2 directory to attach to, or null when the file does not say. Null is kept
    /// rather than resolved here because the default is found on the node at attach time
    /// (the cgroup v2 mount in /proc/mounts), and a config file is read on other machines too.
    /// </summary>
    public string? Cgroup { get; init; }

    /// <summary>The bpffs directory where the maps are pinned, so a restarted agent finds them.</summary>
    public string BpfPinDir { get; init; } = DefaultBpfPinDir;

    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// On SIGTERM, how long the node proxy may take to finish the requests it has; meanwhile new
    /// connections to services with HTTP policy follow their fail mode.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = DefaultDrainTimeout;
}
