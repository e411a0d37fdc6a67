using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Flows;

/// <summary>
/// Turns the kernel's CLOCK_BOOTTIME stamps (bpf_ktime_get_boot_ns) into wall-clock time: boot time
/// keeps counting through suspend, as the wall clock does, unlike CLOCK_MONOTONIC.
/// </summary>
public static unsafe class BootClock
{
    /// <summary>CLOCK_BOOTTIME now, in nanoseconds: what bpf_ktime_get_boot_ns() returns in the kernel.</summary>
    public static ulong NowNanoseconds()
    {
        TimeSpec now;
        if (LibC.ClockGetTime(LibC.ClockBoottime, &now) != 0)
        {
            throw new BpfException("reading CLOCK_BOOTTIME", System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        }
        return (ulong)now.Seconds * 1_000_000_000UL + (ulong)now.Nanoseconds;
    }

    public static DateTimeOffset ToWallClock(ulong bootNanoseconds)
    {
        var nowNanoseconds = NowNanoseconds();
        var age = TimeSpan.FromTicks((long)(nowNanoseconds - Math.Min(bootNanoseconds, nowNanoseconds)) / 100);
        return DateTimeOffset.UtcNow - age;
    }
}
