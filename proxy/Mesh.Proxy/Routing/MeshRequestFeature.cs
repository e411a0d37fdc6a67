using System.Net;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>
/// Per-request routing decision, set on <see cref="HttpContext.Features"/> by <see cref="MeshRoutingMiddleware"/> and
/// read by the later stages: rate limiter, filters, endpoint selection, transforms and the resilience handler (which
/// gets it through <see cref="HttpRequestMessage.Options"/>).
/// </summary>
internal sealed class MeshRequestFeature
{
    public static readonly HttpRequestOptionsKey<MeshRequestFeature> OptionsKey = new("Mesh.Request");

    public required ProxySnapshot Snapshot { get; init; }

    public required IPEndPoint OriginalDestination { get; init; }

    public required CompiledService Service { get; init; }

    public required CompiledRoute Route { get; init; }

    /// <summary>The match that selected the route (null for match-all routes and the default).</summary>
    public CompiledMatch? MatchedBy { get; init; }

    public string? SourceService { get; init; }

    /// <summary>The backend service chosen by weight, set just before endpoint selection.</summary>
    public BackendService? Backend { get; set; }

    public RequestBody Body { get; set; } = RequestBody.NotCaptured;

    /// <summary>The request's telemetry, for the stages that have no <see cref="HttpContext"/> (null when telemetry is off).</summary>
    public RequestTelemetry? Telemetry { get; init; }
}
