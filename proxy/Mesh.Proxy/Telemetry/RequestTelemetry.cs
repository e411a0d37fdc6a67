using System.Diagnostics;
using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// The telemetry of one request, an <see cref="HttpContext"/> feature set by <see cref="RequestTelemetryMiddleware"/>
/// when telemetry is on: its server span, and what the stages after it learn (service, route, verdict), which become
/// span attributes at once and metric labels when the request ends. Absent when telemetry is off, so every call
/// through <see cref="RequestTelemetryExtensions.RecordVerdict"/> is then a no-op.
/// </summary>
/// <param name="context">The request.</param>
/// <param name="start">Its arrival, a <see cref="TimeProvider"/> timestamp.</param>
/// <param name="activity">The server span, or null when the request is not traced.</param>
/// <param name="method">The span's method name; null when not traced.</param>
/// <param name="unsampledTraceparent">For a new trace that is not sampled, the traceparent to send upstream.</param>
internal sealed class RequestTelemetry(HttpContext context, long start, Activity? activity, string? method, string? unsampledTraceparent = null)
{
    public HttpContext Context { get; } = context;

    public long Start { get; } = start;

    /// <summary>The server span, or null when the request is not traced (not sampled, or no listener wants spans).</summary>
    public Activity? Activity { get; } = activity;

    /// <summary>
    /// For a new trace the sampler left out, a traceparent with flags 00 for the upstream, so that the services behind
    /// do not sample it again on their own; null otherwise.
    /// </summary>
    public string? UnsampledTraceparent { get; } = unsampledTraceparent;

    public string? Service { get; private set; }

    /// <summary>The route id, service/route.</summary>
    public string? Route { get; private set; }

    public ProxyVerdict? Verdict { get; private set; }

    /// <summary>Names the service the request is for.</summary>
    public void Identify(string service)
    {
        Service = service;
        // AddTag, not SetTag: each is set once per request (SetTag first searches the tags already there).
        if (Activity is { IsAllDataRequested: true } activity)
        {
            activity.AddTag(TelemetryTags.Service, service);
        }
    }

    /// <summary>Names the route the request matched, which also names the server span.</summary>
    public void Identify(CompiledRoute route)
    {
        Route = route.Id;
        if (Activity is { IsAllDataRequested: true } activity)
        {
            activity.AddTag(TelemetryTags.Route, route.Id);
            activity.DisplayName = route.SpanName(method!);
        }
    }

    public void IdentifySource(string? sourceService)
    {
        if (sourceService is not null && Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag(TelemetryTags.SourceService, sourceService);
        }
    }

    /// <summary>
    /// Records a policy decision. A later stage may refine an earlier one: a request the routing stage allowed can
    /// still be rate limited, fault-injected or find the circuit open.
    /// </summary>
    public void Decide(ProxyVerdict verdict)
    {
        Verdict = verdict;
        if (Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag(TelemetryTags.Verdict, verdict.Name());
        }
    }
}

internal static class RequestTelemetryExtensions
{
    /// <summary>Records where a policy decides; does nothing when telemetry is off.</summary>
    public static void RecordVerdict(this HttpContext context, ProxyVerdict verdict) =>
        context.Features.Get<RequestTelemetry>()?.Decide(verdict);
}
