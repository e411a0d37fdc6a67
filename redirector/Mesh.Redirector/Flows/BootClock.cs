using Mesh.Redirector.Interop;

namespace Mesh.Redirector.Flows;

/// <summary>
/// Turns the kernel's CLOCK_BOOTTIME stamps (bpf_ktime_get_boot_ns) into wall-clock time: boot time
/// keeps counting through suspend, as the wall clock does, unlike CLOCK_MONOTONIC.
/// </summary>
public static unsafe class BootClock
{
    public static DateTimeOffset ToWallClock(ulong bootNanoseconds)
    {
        TimeSpec now;
        if (LibC.ClockGetTime(LibC.ClockBoottime, &now) != 0)
        {
            return DateTimeOffset.UtcNow;
        }
        var nowNanoseconds = (ulong)now.Seconds * 1_000_000_000UL + (ulong)now.Nanoseconds;
        var age = TimeSpan.FromTicks((long)(nowNanoseconds - Math.Min(bootNanoseconds, nowNanoseconds)) / 100);
        return DateTimeOffset.UtcNow - age;
    }
}
