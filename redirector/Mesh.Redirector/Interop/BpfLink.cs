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

    protected override bool ReleaseHandle() => LibBpf.LinkDestroy(handle) == 0;
}
