using Mesh.Proxy.Resilience;

namespace Mesh.Proxy.Tests.Resilience;

public sealed class RetryBudgetTests
{
    [Fact]
    public void TryWithdraw_FiftyRequestsInFlightAtTwentyPercent_AllowsTenRetries()
    {
        var budget = new RetryBudget(percent: 20);
        for (var i = 0; i < 50; i++)
        {
            budget.RequestStarted();
        }

        var granted = Enumerable.Range(0, 20).Count(_ => budget.TryWithdraw());

        Assert.Equal(10, granted);
    }

    [Fact]
    public void TryWithdraw_FewRequestsInFlight_AllowsTheMinimumOfThree()
    {
        var budget = new RetryBudget(percent: 20);
        budget.RequestStarted();

        var granted = Enumerable.Range(0, 5).Count(_ => budget.TryWithdraw());

        Assert.Equal(RetryBudget.MinConcurrentRetries, granted);
    }

    [Fact]
    public void TryWithdraw_AfterARetryingRequestEnds_ItsRetriesAreFreeAgain()
    {
        var budget = new RetryBudget(percent: 20);
        budget.RequestStarted();
        budget.RequestStarted();
        var first = Enumerable.Range(0, 3).Count(_ => budget.TryWithdraw());

        budget.RequestEnded(retries: 2);
        var second = Enumerable.Range(0, 3).Count(_ => budget.TryWithdraw());

        Assert.Equal((3, 2), (first, second));
    }
}
