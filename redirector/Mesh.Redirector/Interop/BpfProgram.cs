using System.Runtime.InteropServices;

namespace Mesh.Redirector.Interop;

/// <summary>A loaded program of a <see cref="BpfObject"/>; keeps its object open until disposed.</summary>
public sealed class BpfProgram : IDisposable
{
    private readonly HandleLease _owner;
    private readonly IntPtr _program;

    internal BpfProgram(BpfObject owner, IntPtr program, string name)
    {
        _owner = new HandleLease(owner);
        _program = program;
        Name = name;
    }

    public string Name { get; }

    public int Fd => LibBpf.ProgramFd(_program);

    /// <summary>Attaches to a cgroup through a bpf_link, which the kernel removes when the last fd to it closes.</summary>
    public BpfLink AttachToCgroup(SafeHandle cgroup)
    {
        var added = false;
        cgroup.DangerousAddRef(ref added);
        try
        {
            var link = BpfException.ThrowIfNull(LibBpf.ProgramAttachCgroup(_program, (int)cgroup.DangerousGetHandle()), $"attaching {Name} to the cgroup");
            return new BpfLink(link);
        }
        finally
        {
            cgroup.DangerousRelease();
        }
    }

    /// <summary>
    /// Attaches to a sockmap or sockhash. libbpf 1.1 has no link API for sockmaps, so this uses
    /// bpf_prog_attach; the attachment lives as long as the map and replaces a program already there.
    /// </summary>
    public void AttachToSocketMap(BpfMap map, BpfAttachType type) =>
        BpfException.ThrowIfError(LibBpf.ProgAttach(Fd, map.Fd, type, 0), $"attaching {Name} to map {map.Name}");

    public void DetachFromSocketMap(BpfMap map, BpfAttachType type) =>
        BpfException.ThrowIfError(LibBpf.ProgDetach(Fd, map.Fd, type), $"detaching {Name} from map {map.Name}");

    public void Dispose() => _owner.Dispose();
}
