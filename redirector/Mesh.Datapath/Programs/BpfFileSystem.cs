using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Programs;

/// <summary>The bpffs that holds pinned maps; many distributions do not mount it by default.</summary>
public static class BpfFileSystem
{
    public const string DefaultMount = "/sys/fs/bpf";

    private const long BpfFsMagic = 0xcafe4a11;

    /// <summary>Mounts bpffs at <paramref name="mountPoint"/> unless it already is a bpffs.</summary>
    public static void EnsureMounted(string mountPoint = DefaultMount)
    {
        if (IsBpfFs(mountPoint))
        {
            return;
        }
        Directory.CreateDirectory(mountPoint);
        if (LibC.Mount("bpf", mountPoint, "bpf", 0, IntPtr.Zero) != 0)
        {
            throw new BpfException($"mounting bpffs at {mountPoint}", Marshal.GetLastPInvokeError());
        }
    }

    private static bool IsBpfFs(string path)
    {
        foreach (var line in File.ReadLines("/proc/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 2 && fields[1] == path && fields[2] == "bpf")
            {
                return true;
            }
        }
        return false;
    }
}
