using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

/// <summary>A libbpf <c>struct bpf_link</c>; disposing it detaches the program.</summary>
public sealed class BpfLink : SafeHandle
{
    internal BpfLink(IntPtr link) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(link);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Opens a link pinned in bpffs, or null when none is (or it cannot be opened).</summary>
    internal static BpfLink? OpenPinned(string path)
    {
        var link = LibBpf.LinkOpen(path);
        return link == IntPtr.Zero ? null : new BpfLink(link);
    }

    /// <summary>Swaps the program in place (BPF_LINK_UPDATE): no moment without one, and the attach order is kept.</summary>
    internal void Replace(BpfProgram program, string what) =>
        BpfException.ThrowIfError(LibBpf.LinkUpdateProgram(handle, program.Pointer), $"replacing the program of {what}");

    internal void Pin(string path) => BpfException.ThrowIfError(LibBpf.LinkPin(handle, path), $"pinning link {path}");

    /// <summary>Detaches the program whoever else holds the link, and removes its pin.</summary>
    internal void DetachAndUnpin()
    {
        _ = LibBpf.LinkDetach(handle);
        _ = LibBpf.LinkUnpin(handle);
    }

    /// <summary>Runs an iterator link to its end: the program runs once per object while the output is read.</summary>
    public unsafe void RunIterator(string what)
    {
        using var iterator = new FileDescriptorHandle(BpfException.ThrowIfError(LibBpf.IterCreate(LibBpf.LinkFd(handle)), $"starting iterator {what}"));
        var buffer = stackalloc byte[4096];
        nint read;
        while ((read = LibC.Read(iterator.Fd, buffer, 4096)) > 0)
        {
        }
        if (read < 0)
        {
            throw new BpfException($"running iterator {what}", Marshal.GetLastPInvokeError());
        }
    }

    protected override bool ReleaseHandle() => LibBpf.LinkDestroy(handle) == 0;
}
