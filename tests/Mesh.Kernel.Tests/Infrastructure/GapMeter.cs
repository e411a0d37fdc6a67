using System.Diagnostics;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// The longest time without progress: the largest interval between successive <see cref="Mark"/>
/// calls, or since the last one while nothing has happened yet (<see cref="Observe"/>), so a
/// connection stuck for good shows up as a gap too. Measuring starts at construction, or with the
/// first <see cref="Mark"/> when created not started (so waiting for a turn to start is not a gap).
/// Thread-safe.
/// </summary>
public sealed class GapMeter
{
    private long _first;
    private long _last;
    private long _maxGap;

    public GapMeter(bool started = true)
    {
        if (started)
        {
            _first = _last = Stopwatch.GetTimestamp();
        }
    }

    public TimeSpan MaxGap => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _maxGap));

    /// <summary>When measuring started (a <see cref="Stopwatch"/> timestamp), 0 while it has not.</summary>
    public long FirstTimestamp => Volatile.Read(ref _first);

    /// <summary>When the last progress happened (a <see cref="Stopwatch"/> timestamp), 0 while none has.</summary>
    public long LastTimestamp => Volatile.Read(ref _last);

    public TimeSpan SinceLast => Volatile.Read(ref _last) is var last and not 0 ? Stopwatch.GetElapsedTime(last) : TimeSpan.Zero;

    /// <summary>Progress happened now.</summary>
    public void Mark()
    {
        var now = Stopwatch.GetTimestamp();
        var previous = Interlocked.Exchange(ref _last, now);
        if (previous == 0)
        {
            Interlocked.CompareExchange(ref _first, now, 0);
            return;
        }
        Raise(now - previous);
    }

    /// <summary>Counts the time since the last progress as a gap, without ending it.</summary>
    public void Observe()
    {
        if (Volatile.Read(ref _last) is var last and not 0)
        {
            Raise(Stopwatch.GetTimestamp() - last);
        }
    }

    private void Raise(long gap)
    {
        var max = Volatile.Read(ref _maxGap);
        while (gap > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxGap, gap, max);
            if (seen == max)
            {
                return;
            }
            max = seen;
        }
    }
}
