using System.Runtime.InteropServices;
using Mesh.Redirector.Interop;

namespace Mesh.Redirector.Programs;

/// <summary>cgroup v2 directories: finding the mount and opening one to attach programs to.</summary>
public static class Cgroup
{
    /// <summary>The cgroup v2 mount point from /proc/mounts, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified.</summary>
    public static string FindV2Root(string mountsFile = "/proc/mounts")
    {
        foreach (var line in File.ReadLines(mountsFile))
        {
            var fields = line.Split(' ');
            if (fields.Length > 2 && fields[2] == "cgroup2")
            {
                return fields[1];
            }
        }
        throw new InvalidOperationException("no cgroup v2 file system is mounted (looked in /proc/mounts); mount one with: mount -t cgroup2 none /sys/fs/cgroup");
    }

    /// <summary>Opens a cgroup v2 directory for bpf attach; the error names the path when it is wrong.</summary>
    internal static FileDescriptorHandle Open(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"cgroup {path} does not exist");
        }
        if (!File.Exists(Path.Combine(path, "cgroup.procs")) || File.Exists(Path.Combine(path, "tasks")))
        {
            throw new InvalidOperationException($"{path} is not a cgroup v2 directory");
        }
        var fd = LibC.Open(path, LibC.ORdOnly | LibC.ODirectory | LibC.OCloexec);
        if (fd < 0)
        {
            throw new BpfException($"opening cgroup {path}", Marshal.GetLastPInvokeError());
        }
        return new FileDescriptorHandle(fd);
    }
}
