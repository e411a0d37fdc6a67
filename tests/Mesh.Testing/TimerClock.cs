namespace Mesh.Testing;

/// <summary>
/// How early a .NET timer may fire when a <see cref="System.Diagnostics.Stopwatch"/> measures it.
/// </summary>
/// <remarks>
/// Task.Delay, CancelAfter and Polly's timeouts run on the runtime's timer queue, which on Linux counts time with
/// CLOCK_MONOTONIC_COARSE: it moves once per kernel tick (4 ms at CONFIG_HZ=250, 10 ms at the lowest common
/// CONFIG_HZ=100), while a Stopwatch reads the fine clock. A 300 ms timeout was measured here at 296–299 ms, and a
/// 30 ms wait at 28.8 ms. A lower bound on a measured wait therefore allows one tick of the coarsest clock.
/// </remarks>
public static class TimerClock
{
    public static readonly TimeSpan EarlyFiringAllowance = TimeSpan.FromMilliseconds(10);
}
