using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>What the kernel says about a thread at one moment.</summary>
/// <param name="State">'R' runnable or running, 'S' asleep, 'D' asleep uninterruptibly (e.g. for a socket lock).</param>
/// <param name="Syscall">The system call it is in while asleep (-1 when running or not in one).</param>
/// <param name="CpuNanoseconds">CPU time used so far.</param>
public readonly record struct KernelThreadState(char State, long Syscall, long CpuNanoseconds)
{
    private const long SendTo = 44, RecvFrom = 45, SendMsg = 46, RecvMsg = 47;

    /// <summary>Asleep inside a send or receive: only the network stack (or the splice) can wake it.</summary>
    public bool AsleepInSocketCall => State is 'S' or 'D' && Syscall is SendTo or RecvFrom or SendMsg or RecvMsg;
}

/// <summary>
/// One thread of this process as the kernel sees it, to tell "waiting for the datapath" (asleep in a
/// socket call) from "waiting for the CPU" (runnable) or for the runtime (asleep in a futex, e.g.
/// during a garbage collection). The /proc files stay open and are re-read in place, so sampling
/// hundreds of threads allocates nothing and cannot itself cause the collections it would measure.
/// </summary>
public sealed class KernelThread : IDisposable
{
    private readonly SafeFileHandle _stat;
    private readonly SafeFileHandle _schedstat;
    private readonly SafeFileHandle _syscall;
    private readonly byte[] _buffer = new byte[1024];

    private KernelThread(int id)
    {
        Id = id;
        _stat = File.OpenHandle($"/proc/self/task/{id}/stat");
        _schedstat = File.OpenHandle($"/proc/self/task/{id}/schedstat");
        _syscall = File.OpenHandle($"/proc/self/task/{id}/syscall");
    }

    public int Id { get; }

    /// <summary>The calling thread.</summary>
    public static KernelThread Current() => new(GetTid());

    /// <summary>Its state now; null once the thread has exited.</summary>
    public KernelThreadState? Read()
    {
        try
        {
            var stat = _buffer.AsSpan(0, RandomAccess.Read(_stat, _buffer, 0));
            // The command name in parentheses may hold spaces or ')': the state follows the last ')'.
            var state = (char)stat[stat.LastIndexOf((byte)')') + 2];
            var schedstat = _buffer.AsSpan(0, RandomAccess.Read(_schedstat, _buffer, 0));
            Utf8Parser.TryParse(schedstat, out long cpu, out _);
            var syscall = _buffer.AsSpan(0, RandomAccess.Read(_syscall, _buffer, 0));
            // "running" while on a CPU, else the call's number followed by its arguments.
            var number = Utf8Parser.TryParse(syscall, out long parsed, out _) ? parsed : -1;
            return new KernelThreadState(state, number, cpu);
        }
        catch (IOException)
        {
            return null; // ESRCH: the thread is gone
        }
    }

    public void Dispose()
    {
        _stat.Dispose();
        _schedstat.Dispose();
        _syscall.Dispose();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
