using Microsoft.Win32.SafeHandles;

namespace Mesh.Datapath.Interop;

/// <summary>A file descriptor Mesh owns (a pinned map, a cgroup directory), closed on dispose.</summary>
internal sealed class FileDescriptorHandle : SafeHandleMinusOneIsInvalid
{
    public FileDescriptorHandle(int fd) : base(ownsHandle: true)
    {
        SetHandle(fd);
    }

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => LibC.Close((int)handle) == 0;
}
