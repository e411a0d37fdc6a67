using System.Net;

namespace Mesh.Datapath;

/// <summary>Where the L7 diversion attaches and where it sends connections.</summary>
public sealed class DivertOptions
{
    /// <summary>The cgroup v2 directory whose connect() calls are diverted; null means the cgroup v2 root.</summary>
    public string? CgroupPath { get; set; }

    /// <summary>bpffs directory for the pinned maps.</summary>
    public string PinDirectory { get; set; } = "/sys/fs/bpf/mesh";

    /// <summary>The node proxy's IPv4 listener; connections to IPv4 services go there.</summary>
    public IPEndPoint ProxyIpv4 { get; set; } = new(IPAddress.Loopback, 15001);

    /// <summary>The node proxy's IPv6 listener (same port as IPv4); null leaves IPv6 services undiverted.</summary>
    public IPAddress? ProxyIpv6 { get; set; } = IPAddress.IPv6Loopback;

    /// <summary>
    /// The uid the node proxy runs as. Its connect() calls are never diverted, or the proxy's own calls to a service
    /// would come back to it. 0 (root, never exempt): no process is exempt.
    /// </summary>
    public uint ProxyUid { get; set; }

    /// <summary>
    /// How old the watchdog's last heartbeat (<see cref="Programs.DivertDatapath.Heartbeat"/>) may be before the
    /// proxy counts as down and each service follows its fail mode. Null: no watchdog, the proxy always counts as up.
    /// </summary>
    public TimeSpan? HeartbeatTimeout { get; set; }

    /// <summary>Loads the *.bpf.o files from this directory instead of the built-in ones.</summary>
    public string? ObjectDirectory { get; set; }
}
