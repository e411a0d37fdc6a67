namespace Mesh.Proxy;

/// <summary>Process-wide settings of the proxy (per-service and per-rule settings come with the config's services).</summary>
public sealed class MeshProxyOptions
{
    /// <summary>
    /// Largest request body kept in memory so that retries (and mirrors) can resend it; larger ones are sent once. A
    /// route's <see cref="Mesh.Config.RetryPolicy.MaxBodyBytes"/> overrides it.
    /// </summary>
    public int MaxReplayBodyBytes { get; set; } = 64 * 1024;

    /// <summary>How long a mirrored request may take before it is abandoned.</summary>
    public TimeSpan MirrorTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Mirrored requests in flight at once; past it, mirror copies are dropped (the primary request is not affected).</summary>
    public int MaxConcurrentMirrors { get; set; } = 256;

    /// <summary>How long to wait for a TCP connection to an upstream endpoint; a timeout is a connect failure.</summary>
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
