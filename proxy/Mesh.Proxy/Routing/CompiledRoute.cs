using System.Collections.Frozen;
using Mesh.Config;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Polly;

namespace Mesh.Proxy.Routing;

/// <summary>
/// A rule prepared for one config version: matches compiled, filters picked out, backends resolved, and its resilience
/// pipeline built. A
/// request keeps the instance it matched until it completes, so an update never changes policy under a running request.
/// </summary>
internal sealed class CompiledRoute
{
    private FrozenDictionary<string, string>? _spanNames;

    public required string Id { get; init; }

    /// <summary>The rule's name, or rule-N for an unnamed one.</summary>
    public required string Name { get; init; }

    public required string ServiceName { get; init; }

    public required HttpRouteRule Model { get; init; }

    // The rule's filters by type (at most one of each but RequestMirror, as the config guarantees), picked out once.
    public HeaderModifier? RequestHeaders { get; init; }

    public HeaderModifier? ResponseHeaders { get; init; }

    public UrlRewriteFilter? Rewrite { get; init; }

    public RequestRedirectFilter? Redirect { get; init; }

    /// <summary>The implicit catch-all route of a service whose default is allow.</summary>
    public bool IsDefault { get; init; }

    public required CompiledMatch[] Matches { get; init; }

    public AuthorizationRule? Authorization { get; init; }

    public required WeightedBackendSelector Backends { get; init; }

    public required ResiliencePipeline<HttpResponseMessage> Pipeline { get; init; }

    public RetryBudget? RetryBudget { get; init; }

    public RouteMirror[] Mirrors { get; init; } = [];

    /// <summary>
    /// The request's server span name, "{method} {route id}" for each method name the telemetry uses
    /// (<see cref="ProxyInstrumentation.MethodNames"/>): made once per route rather than per request.
    /// </summary>
    public string SpanName(string method) => (_spanNames ??= ProxyInstrumentation.MethodNames.ToFrozenDictionary(m => m, m => $"{m} {Id}"))[method];

    public bool HasResilience => !ReferenceEquals(Pipeline, ResiliencePipeline<HttpResponseMessage>.Empty);

    public bool TryMatch(HttpRequest request, out CompiledMatch? matchedBy)
    {
        matchedBy = null;
        foreach (var match in Matches)
        {
            if (match.IsMatch(request))
            {
                matchedBy = match;
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the retry policy may resend a request with this method (if its body can be replayed).</summary>
    public bool RetriesMethod(string method) =>
        Model.Retry is { Attempts: > 0 } retry && (retry.RetryNonIdempotent || IsIdempotent(method));

    /// <summary>The largest body kept for retries and mirrors: the route's retry.maxBodyBytes, else the proxy's.</summary>
    public int ReplayBodyLimit(int proxyLimit) => Model.Retry?.MaxBodyBytes ?? proxyLimit;

    /// <summary>Whether the body must be buffered: for retries, or to send it to the mirrors too.</summary>
    public bool NeedsReplayableBody(string method) => RetriesMethod(method) || Mirrors.Length > 0;

    /// <summary>Whether the filters stage has anything to do for a request with this method beyond picking the backend.</summary>
    public bool HasFilterWork(string method) => Model.Fault is not null || Redirect is not null || NeedsReplayableBody(method);

    /// <summary>
    /// Whether the forwarder's resilience handler needs the request's routing decision: for the route's pipeline, or, when
    /// the request is <paramref name="traced"/>, for the try's client span.
    /// </summary>
    public bool NeedsForwardingHandler(bool traced) => traced || HasResilience;

    // RFC 9110 §9.2.2.
    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
        || HttpMethods.IsTrace(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);
}
