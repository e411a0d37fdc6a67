using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Agent.Workloads;

/// <summary>
/// Runs code inside another process's network namespace: on a thread of its own, which enters the namespace with
/// setns(CLONE_NEWNET), runs the code and ends. Sockets made there stay in that namespace for their whole life, which
/// is how the agent gets a listener into a workload's namespace without changing anything inside it (as Istio
/// ambient's ztunnel opens its in-pod sockets). A thread of its own: only the calling thread changes namespace, and a
/// thread that ends can never leak a namespace into other work, even if switching back failed.
/// </summary>
internal static partial class NamespaceThread
{
    private const int CloneNewNet = 0x40000000;
    private const int ORdOnly = 0;
    private const int OCloexec = 0x80000;

    /// <summary>
    /// The result of <paramref name="work"/> run in the network namespace of process <paramref name="pid"/>; throws
    /// <see cref="NamespaceGoneException"/> when the process or its namespace is gone.
    /// </summary>
    public static T Run<T>(int pid, Func<T> work)
    {
        using var target = OpenNamespace($"/proc/{pid}/ns/net")
            ?? throw new NamespaceGoneException($"process {pid} exited before the agent could enter its network namespace");
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var own = OpenNamespace("/proc/thread-self/ns/net") ?? throw new InvalidOperationException("cannot open this thread's network namespace");
                if (SetNamespace(target, CloneNewNet) != 0)
                {
                    throw new NamespaceGoneException($"entering the network namespace of process {pid} failed (errno {Marshal.GetLastPInvokeError()})");
                }
                try
                {
                    result = work();
                }
                finally
                {
                    SetNamespace(own, CloneNewNet);
                }
            }
            catch (Exception error)
            {
                failure = error;
            }
        })
        { IsBackground = true, Name = "mesh-netns" };
        thread.Start();
        thread.Join();
        return failure switch
        {
            null => result,
            NamespaceGoneException gone => throw gone,
            _ => throw new NamespaceGoneException(failure.Message, failure),
        };
    }

    /// <summary>The namespace's inode as /proc/PID/ns/net names it ("net:[4026531840]"), or null when the process is gone.</summary>
    public static ulong? InodeOf(int pid) => InodeOf($"/proc/{pid}/ns/net");

    /// <summary>The network namespace inode of this process.</summary>
    public static ulong OwnInode() => InodeOf("/proc/self/ns/net") ?? throw new InvalidOperationException("cannot read /proc/self/ns/net");

    private static ulong? InodeOf(string link)
    {
        try
        {
            var target = new FileInfo(link).LinkTarget;
            return target is not null && target.StartsWith("net:[", StringComparison.Ordinal) && ulong.TryParse(target.AsSpan(5, target.Length - 6), out var inode)
                ? inode
                : null;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static SafeFileHandle? OpenNamespace(string path)
    {
        var fd = Open(path, ORdOnly | OCloexec);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNamespace(SafeFileHandle fd, int type);
}

/// <summary>A workload's process or network namespace went away while the agent was working in it.</summary>
internal sealed class NamespaceGoneException(string message, Exception? inner = null) : Exception(message, inner);
