namespace Mesh.Config;

/// <summary>Gateway API's HTTPRouteTimeouts. Null means no timeout, as in Istio.</summary>
public sealed record RouteTimeouts
{
    /// <summary>From the request's arrival until its response has started, retries included.</summary>
    public TimeSpan? Request { get; init; }

    /// <summary>For each try sent to a backend; at most <see cref="Request"/>.</summary>
    public TimeSpan? BackendRequest { get; init; }
}

/// <summary>
/// When a failed request is sent again: after a connection failure, or a response with one of
/// <see cref="Codes"/>. A try waits a random time from 0 up to <see cref="Backoff"/> × 2^(try − 1),
/// at most <see cref="MaxBackoff"/> (exponential backoff with full jitter, as in Envoy).
/// </summary>
public sealed record RetryPolicy
{
    public static readonly TimeSpan DefaultBackoff = TimeSpan.FromMilliseconds(25);

    /// <summary>Retries after the first try (Gateway API and Istio count the same way): 2 means up to 3 tries.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>
    /// Response statuses that are retried, 400..599. By default 502 and 504 only: a 503 usually means
    /// the backend is shedding load, and retrying it adds load.
    /// </summary>
    public ValueList<int> Codes { get; init; } = [502, 504];

    public TimeSpan Backoff { get; init; } = DefaultBackoff;

    /// <summary>Default: 10 × <see cref="Backoff"/>, as in Envoy.</summary>
    public TimeSpan MaxBackoff { get; init; } = DefaultBackoff * 10;

    /// <summary>
    /// Whether requests whose method is not idempotent (POST, PATCH, CONNECT) are retried too.
    /// Off by default: only GET, HEAD, OPTIONS, TRACE, PUT and DELETE are (RFC 9110).
    /// </summary>
    public bool RetryNonIdempotent { get; init; }

    /// <summary>Request bodies up to this size are kept to be sent again; a request with a larger body is not retried.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Retries may be at most this share of the requests in flight, so retries cannot snowball an outage (Envoy's retry
    /// budget); 3 at once always may, as in Envoy, so a rule with little traffic still retries.
    /// </summary>
    public double BudgetPercent { get; init; } = 20;
}

/// <summary>
/// Stops sending requests for <see cref="BreakDuration"/> once the backends keep failing; meanwhile
/// the rule answers 503 at once. A failure is a connection failure, a timeout or a 5xx response.
/// It opens after <see cref="ConsecutiveFailures"/> failures in a row, or when
/// <see cref="FailureRatio"/> is set and that share of the requests in <see cref="SamplingDuration"/>
/// failed, counted once there were <see cref="MinimumThroughput"/> requests.
/// </summary>
public sealed record CircuitBreakerPolicy
{
    /// <summary>0 turns the count off (then <see cref="FailureRatio"/> is set). Default 5, as Istio's consecutive5xxErrors.</summary>
    public int ConsecutiveFailures { get; init; } = 5;

    /// <summary>Above 0, at most 1; null when only <see cref="ConsecutiveFailures"/> opens the breaker.</summary>
    public double? FailureRatio { get; init; }

    /// <summary>At least 2; default 100, as Envoy's success-rate request volume and Polly.</summary>
    public int MinimumThroughput { get; init; } = 100;

    /// <summary>At least 500 ms; default 10 s, as Envoy's outlier detection interval.</summary>
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>At least 500 ms; default 30 s, as Istio's baseEjectionTime.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A token bucket: requests beyond it are answered 429.</summary>
public sealed record RateLimitPolicy
{
    /// <summary>The rate the bucket refills at; above 0, fractions allowed (0.5 is one every 2 s).</summary>
    public required double RequestsPerSecond { get; init; }

    /// <summary>The bucket's size, the most requests let through at once; at least 1. Default: one second's worth.</summary>
    public required int Burst { get; init; }

    /// <summary>One bucket per client address instead of one for the whole rule.</summary>
    public bool PerSource { get; init; }
}

/// <summary>Fault injection for testing resilience, as in Istio. At least one of the two is set.</summary>
public sealed record FaultPolicy
{
    public FaultDelay? Delay { get; init; }

    public FaultAbort? Abort { get; init; }
}

/// <summary>Holds a share of the requests for a while before sending them on.</summary>
public sealed record FaultDelay(TimeSpan FixedDelay)
{
    /// <summary>0..100; 100 by default.</summary>
    public double Percent { get; init; } = 100;
}

/// <summary>Answers a share of the requests with an error status instead of sending them on.</summary>
/// <param name="HttpStatus">400..599.</param>
public sealed record FaultAbort(int HttpStatus)
{
    /// <summary>0..100; 100 by default.</summary>
    public double Percent { get; init; } = 100;
}

/// <summary>Which clients may use a rule; any other is answered 403.</summary>
public sealed record AuthorizationPolicy
{
    /// <summary>Services of the file, each with a <see cref="ServiceConfig.Source"/> that recognises its connections. Never empty.</summary>
    public ValueList<string> AllowFrom { get; init; } = [];
}
