using Mesh.Proxy.Configuration;
using Mesh.Proxy.Resilience;

namespace Mesh.Proxy.Tests.Resilience;

public sealed class RetryBudgetTrackerTests
{
    [Fact]
    public void TryWithdraw_RatioOfRecentRequests_AllowsThatManyRetries()
    {
        var time = new ManualTimeProvider();
        var budget = new RetryBudgetTracker(new RetryBudget { Ratio = 0.2, MinRetriesPerSecond = 0, Window = TimeSpan.FromSeconds(10) }, time);
        for (var i = 0; i < 50; i++)
        {
            budget.RecordRequest();
        }

        var granted = Enumerable.Range(0, 20).Count(_ => budget.TryWithdraw());

        Assert.Equal(10, granted);
    }

    [Fact]
    public void TryWithdraw_AfterTheWindow_CountsStartAfresh()
    {
        var time = new ManualTimeProvider();
        var budget = new RetryBudgetTracker(new RetryBudget { Ratio = 0, MinRetriesPerSecond = 1, Window = TimeSpan.FromSeconds(2) }, time);

        var first = Enumerable.Range(0, 5).Count(_ => budget.TryWithdraw());
        time.Advance(TimeSpan.FromSeconds(2));
        var second = Enumerable.Range(0, 5).Count(_ => budget.TryWithdraw());

        Assert.Equal(2, first);
        Assert.Equal(2, second);
    }

    private sealed class ManualTimeProvider : TimeProvider
    {
        private long _ticks = TimeSpan.FromHours(1).Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
