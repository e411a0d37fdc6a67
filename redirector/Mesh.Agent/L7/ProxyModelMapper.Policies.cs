using System.Globalization;
using Mesh.Proxy.Configuration;
using Cfg = Mesh.Config;

namespace Mesh.Agent.L7;

/// <summary>The rule policies: timeouts, retry, circuit breaker, rate limit and fault.</summary>
internal sealed partial class ProxyModelMapper
{
    // The proxy's bounds (ProxyConfigValidator). The config bounds fewer values; one beyond the proxy's is clamped to
    // the nearest the proxy takes, with a warning, so that one extreme value does not refuse the whole config.
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MinBreakerWindow = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxFaultDelay = TimeSpan.FromHours(1);
    private static readonly TimeSpan MinRateWindow = TimeSpan.FromMilliseconds(1);
    private const int MaxAttempts = 10;

    private static RouteTimeouts? MapTimeouts(Cfg.RouteTimeouts timeouts, string path, List<string> warnings) =>
        timeouts is { Request: null, BackendRequest: null }
            ? null
            : new RouteTimeouts
            {
                // Clamping both into one range keeps backendRequest ≤ request.
                Request = timeouts.Request is { } request ? Clamp(request, MinTimeout, MaxDuration, $"{path}.request", warnings) : null,
                BackendRequest = timeouts.BackendRequest is { } backend ? Clamp(backend, MinTimeout, MaxDuration, $"{path}.backendRequest", warnings) : null,
            };

    private static RetryPolicy MapRetry(Cfg.RetryPolicy retry, string path, List<string> warnings)
    {
        var attempts = retry.Attempts;
        if (attempts > MaxAttempts)
        {
            warnings.Add($"{path}.attempts: the proxy retries at most {MaxAttempts} times; {attempts} becomes {MaxAttempts}");
            attempts = MaxAttempts;
        }

        return new RetryPolicy
        {
            Attempts = attempts,
            Codes = [.. retry.Codes],
            // The config always retries a connection that could not be made.
            RetryOnConnectFailure = true,
            RetryNonIdempotent = retry.RetryNonIdempotent,
            // Clamping both into one range keeps backoff ≤ maxBackoff, which the config requires.
            Backoff = Clamp(retry.Backoff, TimeSpan.Zero, MaxBackoff, $"{path}.backoff", warnings),
            MaxBackoff = Clamp(retry.MaxBackoff, TimeSpan.Zero, MaxBackoff, $"{path}.maxBackoff", warnings),
            // budgetPercent becomes the share of requests that may be retries. The config has no floor for quiet
            // traffic, so the proxy's own is kept (10 retries a second over a 10 s window), as Envoy's budget keeps a
            // minimum of 3 concurrent retries: with none, a rule with little traffic could never retry.
            Budget = new RetryBudget { Ratio = retry.BudgetPercent / 100 },
            MaxBodyBytes = retry.MaxBodyBytes,
        };
    }

    /// <summary>
    /// The config's breaker opens on either condition, the proxy's on exactly one. failureRatio wins when set: the
    /// file has to say it, while consecutiveFailures is 5 unless the file turns it off with 0, and a ratio over a
    /// minimum throughput is the steadier signal under load. The config's durations are always set (break 30 s by
    /// default), so they replace the proxy's defaults (break 5 s).
    /// </summary>
    private static CircuitBreakerPolicy MapCircuitBreaker(Cfg.CircuitBreakerPolicy breaker, string path, List<string> warnings)
    {
        var byRatio = breaker.FailureRatio is not null;
        if (byRatio && breaker.ConsecutiveFailures > 0)
        {
            warnings.Add($"{path}: the proxy opens the breaker on one condition, so only failureRatio {Number(breaker.FailureRatio!.Value)} does, "
                + $"not also {breaker.ConsecutiveFailures} failures in a row (5 unless set); write 'consecutiveFailures: 0' to say so");
        }

        return new CircuitBreakerPolicy
        {
            ConsecutiveFailures = byRatio ? null : breaker.ConsecutiveFailures,
            FailureRatio = breaker.FailureRatio,
            MinimumThroughput = breaker.MinimumThroughput,
            SamplingDuration = Clamp(breaker.SamplingDuration, MinBreakerWindow, MaxDuration, $"{path}.samplingDuration", warnings),
            BreakDuration = Clamp(breaker.BreakDuration, MinBreakerWindow, MaxDuration, $"{path}.breakDuration", warnings),
        };
    }

    /// <summary>
    /// The config's token bucket (burst B, refilled at R a second) becomes the proxy's fixed window of B requests per
    /// B / R seconds. That keeps the long-run rate R exactly, and lets B through at once after a quiet spell, as the
    /// bucket does. It differs at a window's edge: B at the end of one window and B at the start of the next make 2B
    /// in a moment, where the bucket would allow B, so over any span t the window allows at most 2B + R·t against the
    /// bucket's B + R·t. A window of a second with R requests would keep the rate too, but allow bursts of R (and 2R at
    /// an edge) however small B is. A window outside the proxy's 1 ms to 1 day is clamped, and the count set to keep
    /// the rate as near as a whole number of requests can.
    /// </summary>
    private static RateLimitPolicy MapRateLimit(Cfg.RateLimitPolicy limit, string path, List<string> warnings)
    {
        var seconds = limit.Burst / limit.RequestsPerSecond;
        var requests = limit.Burst;
        TimeSpan window;
        if (seconds * TimeSpan.TicksPerSecond < MinRateWindow.Ticks || seconds * TimeSpan.TicksPerSecond > MaxDuration.Ticks)
        {
            window = seconds * TimeSpan.TicksPerSecond < MinRateWindow.Ticks ? MinRateWindow : MaxDuration;
            requests = (int)Math.Clamp(Math.Round(limit.RequestsPerSecond * window.TotalSeconds), 1, int.MaxValue);
            warnings.Add($"{path}: a burst of {limit.Burst} at {Number(limit.RequestsPerSecond)} requests per second needs a window of "
                + $"{seconds.ToString("G3", CultureInfo.InvariantCulture)} s, outside the proxy's 1 ms to 1 day; the proxy allows {requests} requests per {Duration(window)}");
        }
        else
        {
            window = TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
        }

        return new RateLimitPolicy { Requests = requests, Window = window, PerSourceAddress = limit.PerSource };
    }

    private static FaultInjection MapFault(Cfg.FaultPolicy fault, string path, List<string> warnings) => new()
    {
        Delay = fault.Delay is { } delay
            ? new FaultDelay(Clamp(delay.FixedDelay, TimeSpan.Zero, MaxFaultDelay, $"{path}.delay.fixedDelay", warnings), delay.Percent)
            : null,
        Abort = fault.Abort is { } abort ? new FaultAbort(abort.HttpStatus, abort.Percent) : null,
    };

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max, string path, List<string> warnings)
    {
        var clamped = value < min ? min : value > max ? max : value;
        if (clamped != value)
        {
            warnings.Add($"{path}: the proxy takes {Duration(min)} to {Duration(max)}; {Duration(value)} becomes {Duration(clamped)}");
        }
        return clamped;
    }

    /// <summary>A duration as the config writes them: 24h, 90s, 250ms.</summary>
    private static string Duration(TimeSpan value) => value switch
    {
        { Ticks: 0 } => "0",
        { Ticks: var t } when t % TimeSpan.TicksPerHour == 0 => $"{Number(value.TotalHours)}h",
        { Ticks: var t } when t % TimeSpan.TicksPerMinute == 0 => $"{Number(value.TotalMinutes)}m",
        { Ticks: var t } when t % TimeSpan.TicksPerSecond == 0 => $"{Number(value.TotalSeconds)}s",
        _ => $"{Number(value.TotalMilliseconds)}ms",
    };

    private static string Number(double value) => value.ToString("0.######", CultureInfo.InvariantCulture);
}
