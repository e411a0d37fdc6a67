using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Programs;

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

    /// <summary>The cgroup v2 directory process <paramref name="pid"/> belongs to.</summary>
    public static string Of(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/cgroup"))
        {
            if (line.StartsWith("0::", StringComparison.Ordinal))
            {
                return Path.Combine(FindV2Root(), line[3..].TrimStart('/'));
            }
        }
        throw new InvalidOperationException($"process {pid} is in no cgroup v2 (no 0:: line in /proc/{pid}/cgroup)");
    }

    /// <summary>
    /// Moves this process into <paramref name="path"/> unless it already is there or below. Programs
    /// attached to a cgroup run for sockets made by its processes, so the node proxy must live inside
    /// the cgroup it serves for its accepted sockets to be covered.
    /// </summary>
    /// <returns>True when the process was moved.</returns>
    public static bool JoinUnlessWithin(string path)
    {
        var current = Path.TrimEndingDirectorySeparator(Of(Environment.ProcessId)) + "/";
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)) + "/";
        if (current.StartsWith(target, StringComparison.Ordinal))
        {
            return false;
        }
        File.WriteAllText(Path.Combine(target, "cgroup.procs"), Environment.ProcessId.ToString());
        return true;
    }

    /// <summary>
    /// The kernel's id of a cgroup v2 directory (what bpf_get_current_cgroup_id() returns), read as
    /// its file handle the way libbpf's cgroup helpers do.
    /// </summary>
    public static unsafe ulong IdOf(string path)
    {
        var handle = new CgroupFileHandle { HandleBytes = sizeof(ulong) };
        int mountId;
        if (LibC.NameToHandleAt(LibC.AtFdCwd, path, &handle, &mountId, 0) != 0)
        {
            throw new BpfException($"reading the id of cgroup {path}", Marshal.GetLastPInvokeError());
        }
        return handle.Id;
    }

    /// <summary>How deep a cgroup is below the cgroup v2 root (the root is level 0).</summary>
    public static int LevelOf(string path)
    {
        var relative = Path.GetRelativePath(FindV2Root(), Path.GetFullPath(path));
        return relative == "." ? 0 : relative.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;
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
