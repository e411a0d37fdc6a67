using System.Runtime.InteropServices;

namespace Mesh.Agent.Hardening;

/// <summary>
/// Takes the agent from root down to an unprivileged user that holds only the capabilities the datapath needs at run
/// time: CAP_BPF (every bpf() call: map updates on reload, the sweep iterator), CAP_NET_ADMIN (attaching network
/// programs and XDP), CAP_PERFMON (the sweep program reads kernel memory), and CAP_SYS_PTRACE with CAP_SYS_ADMIN to
/// open the node proxy's listener inside each workload's network namespace (/proc/PID/ns/net, then setns), as Istio
/// ambient's ztunnel holds them for its in-pod sockets.
/// Capabilities belong to threads and a .NET process has many, so instead of dropping them in place the agent
/// re-executes itself once: the calling thread switches user keeping those three as ambient capabilities, which
/// execve hands to the new process image, whose threads then all start with them and nothing more.
/// The node proxy is a separate process the agent starts with none (<see cref="StartWithoutCapabilities"/>).
/// </summary>
public static partial class LeastPrivilege
{
    /// <summary>Set in the environment of the re-executed agent, so it does not try again.</summary>
    public const string DroppedMarker = "MESH_PRIVILEGES_DROPPED";

    public const string DefaultUser = "mesh";

    private const int CapNetAdmin = 12;
    private const int CapSysPtrace = 19;
    private const int CapSysAdmin = 21;
    private const int CapPerfmon = 38;
    private const int CapBpf = 39;
    private static readonly int[] Kept = [CapNetAdmin, CapSysPtrace, CapSysAdmin, CapPerfmon, CapBpf];

    private const int PrSetKeepCaps = 8;
    private const int PrCapBsetDrop = 24;
    private const int PrCapAmbient = 47;
    private const int PrCapAmbientRaise = 2;
    private const int PrSetNoNewPrivs = 38;
    private const uint LinuxCapabilityVersion3 = 0x20080522;

    /// <summary>Whether this process should drop: it is root, was not re-executed already, and the user wants it.</summary>
    public static bool ShouldDrop(string runAs) =>
        runAs != "root" && EffectiveUserId() == 0 && Environment.GetEnvironmentVariable(DroppedMarker) is null;

    /// <summary>The uid and gid of a local user (from /etc/passwd), or null when there is no such user.</summary>
    public static (uint Uid, uint Gid)? FindUser(string name)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var fields = line.Split(':');
            if (fields.Length > 3 && fields[0] == name)
            {
                return (uint.Parse(fields[2]), uint.Parse(fields[3]));
            }
        }
        return null;
    }

    /// <summary>
    /// Gives <paramref name="owned"/> (directories, recursively) to the user, switches to it with only the kept
    /// capabilities, and re-executes this program with the same arguments. Returns only by throwing.
    /// </summary>
    public static void ReexecAs((uint Uid, uint Gid) user, IEnumerable<string> owned)
    {
        foreach (var directory in owned)
        {
            ChownTree(directory, user);
        }
        Check(Prctl(PrSetKeepCaps, 1, 0, 0, 0), "keeping capabilities across the user switch");
        var lastCapability = int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim());
        for (var capability = 0; capability <= lastCapability; capability++)
        {
            if (!Kept.Contains(capability))
            {
                Check(Prctl(PrCapBsetDrop, (ulong)capability, 0, 0, 0), $"dropping capability {capability} from the bounding set");
            }
        }
        Check(SetGroups(0, IntPtr.Zero), "clearing supplementary groups");
        Check(SetResGid(user.Gid, user.Gid, user.Gid), "switching group");
        Check(SetResUid(user.Uid, user.Uid, user.Uid), "switching user");
        SetThreadCapabilities();
        foreach (var capability in Kept)
        {
            Check(Prctl(PrCapAmbient, PrCapAmbientRaise, (ulong)capability, 0, 0), $"raising ambient capability {capability}");
        }
        Exec();
    }

    /// <summary>
    /// Starts a program with no capabilities at all, and unable to gain any: not through ambient or inheritable
    /// capabilities (which this agent holds and execve would hand on), nor a set-user-id or file-capability binary
    /// later (no_new_privs).
    /// Both are attributes of the calling thread that fork copies, so they are set on a thread of its own, which
    /// starts the program and ends; the agent's other threads keep theirs. A root agent starts it as
    /// <paramref name="user"/>: changing from root to another user clears every capability.
    /// </summary>
    public static System.Diagnostics.Process StartWithoutCapabilities(System.Diagnostics.ProcessStartInfo start, string? user)
    {
        if (user is not null && EffectiveUserId() == 0)
        {
            start.UserName = user;
        }
        System.Diagnostics.Process? started = null;
        Exception? failure = null;
        var launcher = new Thread(() =>
        {
            try
            {
                Check(Prctl(PrSetNoNewPrivs, 1, 0, 0, 0), "setting no_new_privs");
                ClearThreadInheritable();
                started = System.Diagnostics.Process.Start(start);
            }
            catch (Exception error)
            {
                failure = error;
            }
        }) { Name = "mesh proxy launcher" };
        launcher.Start();
        launcher.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"starting {start.FileName} without capabilities failed: {failure.Message}", failure);
        }
        return started ?? throw new InvalidOperationException($"starting {start.FileName} failed");
    }

    private static unsafe void SetThreadCapabilities()
    {
        uint low = 0, high = 0;
        foreach (var capability in Kept)
        {
            if (capability < 32)
            {
                low |= 1u << capability;
            }
            else
            {
                high |= 1u << (capability - 32);
            }
        }
        var header = stackalloc uint[2] { LinuxCapabilityVersion3, 0 };
        // Two struct __user_cap_data_struct { effective, permitted, inheritable }: bits 0-31, then 32-63.
        var data = stackalloc uint[6] { low, low, low, high, high, high };
        Check((int)Syscall(CapabilitySyscall(set: true), header, data), "setting the thread's capabilities");
    }

    /// <summary>
    /// Empties the calling thread's inheritable set (which empties its ambient set too), keeping its effective and
    /// permitted sets, which a root agent needs to switch the new process to its user.
    /// </summary>
    private static unsafe void ClearThreadInheritable()
    {
        var header = stackalloc uint[2] { LinuxCapabilityVersion3, 0 };
        var data = stackalloc uint[6];
        Check((int)Syscall(CapabilitySyscall(set: false), header, data), "reading the thread's capabilities");
        data[2] = data[5] = 0;
        Check((int)Syscall(CapabilitySyscall(set: true), header, data), "clearing the thread's inheritable capabilities");
    }

    /// <summary>capget or capset: glibc wraps neither, and the syscall numbers are per architecture.</summary>
    private static long CapabilitySyscall(bool set) => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => set ? 126L : 125L,
        Architecture.Arm64 => set ? 91L : 90L,
        var other => throw new PlatformNotSupportedException($"capget/capset on {other}"),
    };

    private static unsafe void Exec()
    {
        // The exact argv this process was started with (apphost or `dotnet mesh.dll`), and /proc/self/exe to run it.
        var arguments = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0');
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(entry => $"{entry.Key}={entry.Value}")
            .Append($"{DroppedMarker}=1")
            .ToArray();
        var argv = Strings(arguments);
        var envp = Strings(environment);
        Execve("/proc/self/exe", argv, envp);
        throw new InvalidOperationException($"re-executing as an unprivileged user failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>A NULL-terminated array of C strings, left allocated: execve replaces the process, or the agent exits.</summary>
    private static IntPtr[] Strings(IReadOnlyList<string> values) =>
        [.. values.Select(value => Marshal.StringToCoTaskMemUTF8(value)), IntPtr.Zero];

    private static void ChownTree(string directory, (uint Uid, uint Gid) user)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Prepend(directory))
        {
            Check(Lchown(path, user.Uid, user.Gid), $"giving {path} to the agent's user");
        }
    }

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"{what} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>The uid of this process (its effective user).</summary>
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint EffectiveUserId();

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, ulong argument2, ulong argument3, ulong argument4, ulong argument5);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static partial int SetGroups(nuint size, IntPtr groups);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    private static partial int SetResGid(uint real, uint effective, uint saved);

    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    private static partial int SetResUid(uint real, uint effective, uint saved);

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Lchown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long Syscall(long number, uint* header, uint* data);

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execve(string path, IntPtr[] argv, IntPtr[] envp);
}
