using Polly;
using Polly.CircuitBreaker;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// A circuit breaker that opens after N failures in a row (Polly's own breaker only knows failure ratios). Closed:
/// a success resets the count. Open: tries are refused with <see cref="BrokenCircuitException"/> until the break
/// duration has passed. Half-open: one trial try is let through; its success closes the circuit, its failure opens it
/// again, and other tries are refused meanwhile.
/// </summary>
internal sealed class ConsecutiveFailuresCircuitBreaker(
    int threshold,
    TimeSpan breakDuration,
    TimeProvider time,
    Action<TimeSpan> onOpened) : ResilienceStrategy<HttpResponseMessage>
{
    private readonly Lock _gate = new();
    private int _failures;
    private long _openUntil;
    private bool _open;
    private bool _trialInFlight;

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state)
    {
        if (!TryEnter(out var trial, out var retryAfter))
        {
            return Outcome.FromException<HttpResponseMessage>(new BrokenCircuitException("The circuit is open.", retryAfter));
        }

        Outcome<HttpResponseMessage> outcome;
        try
        {
            outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception e)
        {
            outcome = Outcome.FromException<HttpResponseMessage>(e);
        }

        Record(outcome, trial);
        return outcome;
    }

    private bool TryEnter(out bool trial, out TimeSpan retryAfter)
    {
        lock (_gate)
        {
            trial = false;
            retryAfter = TimeSpan.Zero;
            if (!_open)
            {
                return true;
            }

            var now = time.GetTimestamp();
            if (now < _openUntil)
            {
                retryAfter = time.GetElapsedTime(now, _openUntil);
                return false;
            }

            if (_trialInFlight)
            {
                return false;
            }

            _trialInFlight = true;
            trial = true;
            return true;
        }
    }

    private void Record(Outcome<HttpResponseMessage> outcome, bool trial)
    {
        var cancelled = outcome.Exception is OperationCanceledException;
        var failed = UpstreamOutcome.IsFailure(outcome);
        var opened = false;
        lock (_gate)
        {
            if (trial)
            {
                _trialInFlight = false;
            }

            if (cancelled)
            {
                return;
            }

            if (!failed)
            {
                _failures = 0;
                _open = false;
                return;
            }

            _failures++;
            if (trial || (!_open && _failures >= threshold))
            {
                _open = true;
                _openUntil = time.GetTimestamp() + (long)(breakDuration.TotalSeconds * time.TimestampFrequency);
                opened = true;
            }
        }

        if (opened)
        {
            onOpened(breakDuration);
        }
    }
}
