namespace Mesh.Datapath;

/// <summary>Where the L3/L4 policy attaches.</summary>
public sealed class L4Options
{
    /// <summary>The cgroup v2 directory whose sockets the policy judges; null means the cgroup v2 root.</summary>
    public string? CgroupPath { get; set; }

    /// <summary>bpffs directory for the pinned maps.</summary>
    public string PinDirectory { get; set; } = "/sys/fs/bpf/mesh";

    /// <summary>Loads the *.bpf.o files from this directory instead of the built-in ones.</summary>
    public string? ObjectDirectory { get; set; }
}
