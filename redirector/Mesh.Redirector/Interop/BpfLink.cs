using System.Runtime.InteropServices;

namespace Mesh.Redirector.Interop;

/// <summary>A libbpf <c>struct bpf_link</c>; disposing it detaches the program.</summary>
public sealed class BpfLink : SafeHandle
{
    internal BpfLink(IntPtr link) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(link);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

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
