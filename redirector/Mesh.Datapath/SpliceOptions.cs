namespace Mesh.Datapath;

/// <summary>Where and how the kernel splice attaches.</summary>
public sealed class SpliceOptions
{
    /// <summary>The cgroup v2 directory whose sockets are spliced; null means the cgroup v2 root (the whole node).</summary>
    public string? CgroupPath { get; set; }

    /// <summary>bpffs directory for the pinned maps, shared by the programs and by a restarted agent.</summary>
    public string PinDirectory { get; set; } = "/sys/fs/bpf/mesh";

    /// <summary>When false, programs stay attached but every byte goes through TCP.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Loads the *.bpf.o files from this directory instead of the ones built into the assembly (development, tests).</summary>
    public string? ObjectDirectory { get; set; }
}
