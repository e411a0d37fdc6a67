using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

/// <summary>
/// Keeps a <see cref="SafeHandle"/> from being released while something that borrows from it is
/// alive: a program or map pointer is valid only while its bpf_object is open.
/// </summary>
internal sealed class HandleLease : IDisposable
{
    private SafeHandle? _handle;

    public HandleLease(SafeHandle handle)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
    }

    public void Dispose() => Interlocked.Exchange(ref _handle, null)?.DangerousRelease();
}
