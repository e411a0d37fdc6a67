namespace Mesh.Config;

/// <summary>
/// The bounds of a rule's policies, checked once by the config binders (with line and column) so that every config
/// that loads is one the proxy runs as written; the proxy's libraries refuse values outside them (Polly: timeouts of
/// 10 ms to a day, circuit-breaker windows of 500 ms to a day).
/// </summary>
public static class PolicyLimits
{
    public static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);

    public static readonly TimeSpan MinBreakerDuration = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest timeout, backoff, breaker window and fault delay.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(1);

    /// <summary>Bodies kept for retrying are held in the proxy's memory; past this, one request could hold too much.</summary>
    public const int MaxRetryBodyBytes = 16 * 1024 * 1024;

    /// <summary>A token bucket refills at least once a day and at most a million times a second.</summary>
    public const double MinRequestsPerSecond = 1.0 / 86_400;

    public const double MaxRequestsPerSecond = 1_000_000;
}
