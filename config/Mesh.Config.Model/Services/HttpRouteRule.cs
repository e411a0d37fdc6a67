namespace Mesh.Config;

/// <summary>
/// One entry of a service's <c>rules</c>, shaped like a Gateway API HTTPRouteRule: which requests
/// it takes (<see cref="Matches"/>), what is done to them, and where they go. Unlike Gateway API,
/// which picks the most specific match, a service's rules are tried in the order written.
/// </summary>
public sealed record HttpRouteRule
{
    /// <summary>The response header a denied request's reason is sent in.</summary>
    public const string DenyReasonHeader = "x-mesh-deny-reason";

    /// <summary>A DNS label unique within the service, for logs and metrics; null when the file gives none.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// The requests the rule takes: those that satisfy any one match. Never empty: a rule
    /// without matches has one that matches every request (a PathPrefix of /), as in Gateway API.
    /// </summary>
    public ValueList<RouteMatch> Matches { get; init; } = [new RouteMatch()];

    /// <summary>Mesh's extension to Gateway API: <see cref="RouteAction.Deny"/> answers 403 and nothing else in the rule applies.</summary>
    public RouteAction Action { get; init; } = RouteAction.Allow;

    /// <summary>For a deny rule, the reason sent in <see cref="DenyReasonHeader"/>; null sends "denied by route NAME".</summary>
    public string? DenyReason { get; init; }

    /// <summary>The filters in the order written. At most one of each type, except <see cref="RequestMirrorFilter"/>.</summary>
    public ValueList<RouteFilter> Filters { get; init; } = [];

    /// <summary>
    /// Where requests are sent, split by weight. In a loaded config this is empty exactly when the
    /// rule answers by itself (a deny or a redirect); otherwise a rule that names no backends holds
    /// its own service with weight 1.
    /// </summary>
    public ValueList<BackendRef> BackendRefs { get; init; } = [];

    public RouteTimeouts Timeouts { get; init; } = new();

    /// <summary>Null: requests are not retried.</summary>
    public RetryPolicy? Retry { get; init; }

    public CircuitBreakerPolicy? CircuitBreaker { get; init; }

    public RateLimitPolicy? RateLimit { get; init; }

    public FaultPolicy? Fault { get; init; }

    /// <summary>Null: every client may use the rule.</summary>
    public AuthorizationPolicy? Authorization { get; init; }
}

/// <summary>One way requests are sent on: a service of the file, and its share of the requests.</summary>
/// <param name="Name">A service in the file; requests go to its endpoints, without its own rules.</param>
/// <param name="Weight">
/// Relative, as in Gateway API: a backend receives weight / (sum of the rule's weights) of the
/// requests. 0..1,000,000; 0 sends it nothing.
/// </param>
public sealed record BackendRef(string Name, int Weight = 1);
