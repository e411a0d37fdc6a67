using Mesh.Proxy.Configuration;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// Counts requests and retries of one route in one-second buckets over the budget's window, and allows a retry while
/// retries in the window stay under <c>minRetriesPerSecond × window + ratio × requests</c> (the Linkerd / Finagle retry
/// budget). Without it a failing upstream would receive every request up to 1 + attempts times.
/// </summary>
internal sealed class RetryBudgetTracker
{
    private readonly RetryBudget _budget;
    private readonly TimeProvider _time;
    private readonly int _seconds;
    private readonly long[] _bucketSecond;
    private readonly long[] _requests;
    private readonly long[] _retries;
    private readonly Lock _gate = new();

    public RetryBudgetTracker(RetryBudget budget, TimeProvider time)
    {
        _budget = budget;
        _time = time;
        _seconds = Math.Max(1, (int)Math.Ceiling(budget.Window.TotalSeconds));
        _bucketSecond = new long[_seconds];
        Array.Fill(_bucketSecond, -1);
        _requests = new long[_seconds];
        _retries = new long[_seconds];
    }

    public void RecordRequest()
    {
        lock (_gate)
        {
            _requests[CurrentBucket()]++;
        }
    }

    /// <summary>Takes one retry from the budget, or returns false if it is spent.</summary>
    public bool TryWithdraw()
    {
        lock (_gate)
        {
            var bucket = CurrentBucket();
            long requests = 0, retries = 0;
            for (var i = 0; i < _seconds; i++)
            {
                requests += _requests[i];
                retries += _retries[i];
            }

            var allowed = (_budget.MinRetriesPerSecond * (double)_seconds) + (_budget.Ratio * requests);
            if (retries + 1 > allowed)
            {
                return false;
            }

            _retries[bucket]++;
            return true;
        }
    }

    // Must hold _gate. Buckets older than the window are cleared when their slot comes round again, so the sums above
    // only ever cover the last _seconds seconds.
    private int CurrentBucket()
    {
        var second = _time.GetTimestamp() / _time.TimestampFrequency;
        var index = (int)(second % _seconds);
        if (_bucketSecond[index] != second)
        {
            for (var i = 0; i < _seconds; i++)
            {
                if (_bucketSecond[i] <= second - _seconds)
                {
                    _requests[i] = 0;
                    _retries[i] = 0;
                }
            }

            _bucketSecond[index] = second;
            _requests[index] = 0;
            _retries[index] = 0;
        }

        return index;
    }
}
