namespace Mesh.Proxy.Telemetry;

/// <summary>
/// What the proxy's policies decided for a request: the <c>mesh.verdict</c> attribute of its server span and the
/// verdict label of its metrics. Set where each decision is made, through <see cref="RequestTelemetry.Decide"/>.
/// </summary>
internal enum ProxyVerdict
{
    /// <summary>Route matched and access allowed: the request goes on to the upstream (or to a redirect).</summary>
    Allowed,

    /// <summary>Refused with 403: a deny route, no route under a default of deny, or authorization.</summary>
    Denied,

    /// <summary>Refused with 429 by the route's rate limit.</summary>
    RateLimited,

    /// <summary>Answered 503 without calling the upstream, because the route's circuit is open.</summary>
    CircuitOpen,

    /// <summary>Answered by fault injection (an abort) instead of the upstream.</summary>
    FaultInjected,
}

internal static class ProxyVerdictNames
{
    /// <summary>The attribute value: allowed, denied, rate-limited, circuit-open, fault-injected.</summary>
    public static string Name(this ProxyVerdict verdict) => verdict switch
    {
        ProxyVerdict.Allowed => "allowed",
        ProxyVerdict.Denied => "denied",
        ProxyVerdict.RateLimited => "rate-limited",
        ProxyVerdict.CircuitOpen => "circuit-open",
        ProxyVerdict.FaultInjected => "fault-injected",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };
}
