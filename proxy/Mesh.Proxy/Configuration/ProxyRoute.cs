namespace Mesh.Proxy.Configuration;

/// <summary>
/// A route of a service, modelled on the Kubernetes Gateway API HTTPRoute rule: matches, an action, filters, backends and
/// policies. Routes of a service are tried in the order written; the first whose <see cref="Matches"/> accept the request
/// handles it.
/// </summary>
public sealed record ProxyRoute
{
    /// <summary>Unique within the service; appears in logs and in deny reasons.</summary>
    public required string Name { get; init; }

    /// <summary>Any one of these must match (OR). Empty: the route matches every request.</summary>
    public IReadOnlyList<RouteMatch> Matches { get; init; } = [];

    /// <summary>Allow forwards the request; Deny answers 403 and never reaches an upstream.</summary>
    public ProxyAction Action { get; init; } = ProxyAction.Allow;

    /// <summary>The <c>x-mesh-deny-reason</c> value for <see cref="ProxyAction.Deny"/> (printable ASCII). Default: "denied by route NAME".</summary>
    public string? DenyReason { get; init; }

    /// <summary>Header changes on the request sent upstream (Gateway API RequestHeaderModifier).</summary>
    public HeaderModifier? RequestHeaders { get; init; }

    /// <summary>Header changes on the response sent to the client (Gateway API ResponseHeaderModifier).</summary>
    public HeaderModifier? ResponseHeaders { get; init; }

    /// <summary>Host and path rewrite of the request sent upstream (Gateway API URLRewrite).</summary>
    public UrlRewrite? Rewrite { get; init; }

    /// <summary>Answer with a redirect instead of forwarding (Gateway API RequestRedirect).</summary>
    public RequestRedirect? Redirect { get; init; }

    /// <summary>
    /// Fire-and-forget copies of the request, one to each of these services (Gateway API RequestMirror, which a rule
    /// may have more than once).
    /// </summary>
    public IReadOnlyList<RequestMirror> Mirrors { get; init; } = [];

    /// <summary>Weighted services to forward to. Empty: the route's own service.</summary>
    public IReadOnlyList<BackendRef> Backends { get; init; } = [];

    /// <summary>Overall and per-try timeouts.</summary>
    public RouteTimeouts? Timeouts { get; init; }

    /// <summary>Retries of failed tries.</summary>
    public RetryPolicy? Retry { get; init; }

    /// <summary>Stops calling the upstream after repeated failures.</summary>
    public CircuitBreakerPolicy? CircuitBreaker { get; init; }

    /// <summary>Requests per window, for the whole route or per source address.</summary>
    public RateLimitPolicy? RateLimit { get; init; }

    /// <summary>Injected delays and aborts, for testing the callers.</summary>
    public FaultInjection? Fault { get; init; }

    /// <summary>Which source services may use this route (checked after the service's own authorization).</summary>
    public ProxyAuthorization? Authorization { get; init; }
}

/// <summary>
/// One match rule: every condition that is set must hold (AND). Paths, methods, header values and query values compare
/// case-sensitively; header names case-insensitively. Regular expressions must match the whole value and use the
/// RE2-like subset that .NET's non-backtracking engine accepts (linear time on any input).
/// </summary>
public sealed record RouteMatch
{
    /// <summary>Path condition, or null for any path.</summary>
    public PathMatch? Path { get; init; }

    /// <summary>HTTP method (exact, e.g. "GET"), or null for any.</summary>
    public string? Method { get; init; }

    /// <summary>Header conditions; a header with several values is compared as its comma-joined field value.</summary>
    public IReadOnlyList<HeaderMatch> Headers { get; init; } = [];

    /// <summary>Query parameter conditions; a parameter given several times matches if any value does.</summary>
    public IReadOnlyList<QueryParamMatch> QueryParams { get; init; } = [];
}

/// <summary>A path condition.</summary>
/// <param name="Type">How <paramref name="Value"/> is compared.</param>
/// <param name="Value">
/// Exact: the whole path. PathPrefix: a path prefix compared element by element ("/api" matches "/api" and "/api/x",
/// not "/apix"; a trailing slash is ignored). RegularExpression: a pattern for the whole path.
/// </param>
public sealed record PathMatch(PathMatchType Type, string Value);

/// <summary>How a path is compared.</summary>
public enum PathMatchType
{
    /// <summary>The whole path, case-sensitive.</summary>
    Exact,

    /// <summary>Leading path elements.</summary>
    PathPrefix,

    /// <summary>A regular expression for the whole path.</summary>
    RegularExpression,
}

/// <summary>How a header or query value is compared.</summary>
public enum StringMatchType
{
    /// <summary>Equal, case-sensitive.</summary>
    Exact,

    /// <summary>A regular expression for the whole value.</summary>
    RegularExpression,
}

/// <summary>A header condition.</summary>
public sealed record HeaderMatch(string Name, string Value, StringMatchType Type = StringMatchType.Exact);

/// <summary>A query parameter condition.</summary>
public sealed record QueryParamMatch(string Name, string Value, StringMatchType Type = StringMatchType.Exact);
