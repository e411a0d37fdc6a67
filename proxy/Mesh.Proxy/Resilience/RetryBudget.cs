namespace Mesh.Proxy.Resilience;

/// <summary>
/// Envoy's retry budget for one route: the retries of the requests in flight may be at most
/// <c>budgetPercent</c> of those requests, and always at least <see cref="MinConcurrentRetries"/> (Envoy's
/// min_retry_concurrency), so a rule with little traffic can still retry. Without it a failing upstream would receive
/// every request up to 1 + attempts times. A request's retries count until the request ends.
/// </summary>
internal sealed class RetryBudget(double percent)
{
    public const int MinConcurrentRetries = 3;

    private int _requests;
    private int _retries;

    public void RequestStarted() => Interlocked.Increment(ref _requests);

    /// <summary>The request ended, and with it the <paramref name="retries"/> it was granted.</summary>
    public void RequestEnded(int retries)
    {
        Interlocked.Add(ref _retries, -retries);
        Interlocked.Decrement(ref _requests);
    }

    /// <summary>Takes one retry from the budget, or returns false if it is spent.</summary>
    public bool TryWithdraw()
    {
        while (true)
        {
            var retries = Volatile.Read(ref _retries);
            if (retries + 1 > Math.Max(MinConcurrentRetries, percent / 100 * Volatile.Read(ref _requests)))
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _retries, retries + 1, retries) == retries)
            {
                return true;
            }
        }
    }
}
