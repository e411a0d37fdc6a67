using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

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

    /// <summary>The libbpf <c>struct bpf_program *</c>, for calls that take one.</summary>
    internal IntPtr Pointer => _program;

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

    /// <summary>Attaches an iterator program (SEC("iter/...")); run it with <see cref="BpfLink.RunIterator"/>.</summary>
    public BpfLink AttachIterator() =>
        new(BpfException.ThrowIfNull(LibBpf.ProgramAttachIter(_program, IntPtr.Zero), $"attaching iterator {Name}"));

    /// <summary>
    /// Attaches an XDP program to an interface in the given mode (<see cref="XdpFlags.DrvMode"/> or
    /// <see cref="XdpFlags.SkbMode"/>), replacing one already there. Not a bpf_link: the program stays
    /// on the interface if the agent dies, so the policy keeps being enforced until it is replaced.
    /// </summary>
    public XdpAttachment AttachToInterface(string interfaceName, XdpFlags mode)
    {
        var ifindex = (int)LibC.IfNameToIndex(interfaceName);
        if (ifindex == 0)
        {
            throw new BpfException($"finding interface {interfaceName}", Marshal.GetLastPInvokeError());
        }
        BpfException.ThrowIfError(LibBpf.XdpAttach(ifindex, Fd, mode, IntPtr.Zero), $"attaching {Name} to {interfaceName} ({mode})");
        return new XdpAttachment(interfaceName, ifindex, mode);
    }

    /// <summary>
    /// Runs the program once per repetition on <paramref name="data"/> with BPF_PROG_TEST_RUN, in the
    /// kernel, against the live maps: the verdict and counters are exactly those a real packet gets.
    /// </summary>
    public unsafe TestRunResult TestRun(ReadOnlySpan<byte> data, int repeat = 1)
    {
        fixed (byte* input = data)
        {
            var options = new TestRunOptions
            {
                Size = (nuint)sizeof(TestRunOptions),
                DataIn = input,
                DataSizeIn = (uint)data.Length,
                Repeat = repeat,
            };
            BpfException.ThrowIfError(LibBpf.ProgTestRun(Fd, &options), $"test-running {Name}");
            return new TestRunResult(options.ReturnValue, TimeSpan.FromTicks(options.Duration / 100), options.Duration);
        }
    }

    public void Dispose() => _owner.Dispose();
}

/// <summary>What one BPF_PROG_TEST_RUN gave: the program's return value and its mean time per repetition.</summary>
public sealed record TestRunResult(uint ReturnValue, TimeSpan MeanDuration, uint MeanNanoseconds);
