namespace Mesh.Proxy.Configuration;

/// <summary>Timeouts of a route (Gateway API HTTPRouteTimeouts).</summary>
public sealed record RouteTimeouts
{
    /// <summary>From forwarding to the upstream's response headers, across every try and backoff; 504 when it expires.</summary>
    public TimeSpan? Request { get; init; }

    /// <summary>One try towards an upstream; an expired try counts as a 504 for retries and the circuit breaker.</summary>
    public TimeSpan? BackendRequest { get; init; }
}

/// <summary>Retries of failed tries. Only a request whose body could be buffered for replay is retried.</summary>
public sealed record RetryPolicy
{
    /// <summary>Retries after the first try (Gateway API <c>attempts</c>): 2 means up to 3 tries.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>Upstream status codes worth another try; 504 also covers an expired per-try timeout.</summary>
    public IReadOnlyList<int> Codes { get; init; } = [502, 504];

    /// <summary>Retry when the connection to the upstream could not be made.</summary>
    public bool RetryOnConnectFailure { get; init; } = true;

    /// <summary>Also retry POST, PATCH and other methods that are not idempotent.</summary>
    public bool RetryNonIdempotent { get; init; }

    /// <summary>First backoff; each retry doubles it, with jitter.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>Longest backoff.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Caps retries relative to traffic, so retries cannot multiply load on a struggling upstream.</summary>
    public RetryBudget Budget { get; init; } = new();

    /// <summary>
    /// Request bodies up to this size are kept to be sent again on a retry (and to the route's mirrors); a larger one
    /// is streamed once and not retried. Null: <see cref="MeshProxyOptions.MaxReplayBodyBytes"/>.
    /// </summary>
    public int? MaxBodyBytes { get; init; }
}

/// <summary>
/// Retries allowed in a sliding window: <see cref="MinRetriesPerSecond"/> per second of the window, plus
/// <see cref="Ratio"/> of the requests in the window.
/// </summary>
public sealed record RetryBudget
{
    /// <summary>Extra retries per request, e.g. 0.2 = one retry per five requests.</summary>
    public double Ratio { get; init; } = 0.2;

    /// <summary>Retries always allowed per second, however little traffic there is.</summary>
    public int MinRetriesPerSecond { get; init; } = 10;

    /// <summary>The window over which requests and retries are counted (whole seconds).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Stops calling an upstream that keeps failing: while open, the route answers 503 without calling it; after
/// <see cref="BreakDuration"/> one trial request decides between closing and opening again. A failure is a 5xx answer,
/// a connection error or an expired per-try timeout. Set exactly one of <see cref="ConsecutiveFailures"/> and
/// <see cref="FailureRatio"/>.
/// </summary>
public sealed record CircuitBreakerPolicy
{
    /// <summary>Open after this many failures in a row.</summary>
    public int? ConsecutiveFailures { get; init; }

    /// <summary>Open when this share of the tries in <see cref="SamplingDuration"/> failed (0 &lt; ratio ≤ 1)...</summary>
    public double? FailureRatio { get; init; }

    /// <summary>...and at least this many tries were made in it (≥ 2).</summary>
    public int MinimumThroughput { get; init; } = 10;

    /// <summary>The window for <see cref="FailureRatio"/> (≥ 0.5 s).</summary>
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the circuit stays open (≥ 0.5 s).</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>A fixed-window request limit; over it the route answers 429 with Retry-After.</summary>
public sealed record RateLimitPolicy
{
    /// <summary>Requests allowed per window.</summary>
    public required int Requests { get; init; }

    /// <summary>The window.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Count each source address separately instead of the route as a whole.</summary>
    public bool PerSourceAddress { get; init; }
}

/// <summary>Injected faults; the delay (if drawn) comes before the abort (if drawn).</summary>
public sealed record FaultInjection
{
    /// <summary>Delay before forwarding.</summary>
    public FaultDelay? Delay { get; init; }

    /// <summary>Answer with a status instead of forwarding.</summary>
    public FaultAbort? Abort { get; init; }
}

/// <summary>Delay <paramref name="Percent"/> % of requests by <paramref name="Duration"/>.</summary>
public sealed record FaultDelay(TimeSpan Duration, double Percent = 100);

/// <summary>Answer <paramref name="Percent"/> % of requests with <paramref name="StatusCode"/> without calling the upstream.</summary>
public sealed record FaultAbort(int StatusCode, double Percent = 100);

/// <summary>
/// Only requests from these source services pass; others get 403. The source is the service whose
/// <see cref="ProxyService.SourceCidrs"/> contain the client address (the longest prefix wins).
/// </summary>
public sealed record ProxyAuthorization
{
    /// <summary>Names of the services allowed to call.</summary>
    public IReadOnlyList<string> AllowedSources { get; init; } = [];
}
