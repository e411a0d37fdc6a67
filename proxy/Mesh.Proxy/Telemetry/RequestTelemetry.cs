using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// The telemetry of one request, an <see cref="HttpContext"/> feature set by <see cref="RequestTelemetryMiddleware"/>
/// when telemetry is on: its server span, and what the stages after it learn (service, route, verdict), which become
/// span attributes at once and metric labels when the request ends. Absent when telemetry is off, so every call
/// through <see cref="RequestTelemetryExtensions.RecordVerdict"/> is then a no-op.
/// </summary>
internal sealed class RequestTelemetry(Activity? activity, string method)
{
    /// <summary>The server span, or null when no listener wants it.</summary>
    public Activity? Activity { get; } = activity;

    public string? Service { get; private set; }

    /// <summary>The route id, service/route.</summary>
    public string? Route { get; private set; }

    public ProxyVerdict? Verdict { get; private set; }

    /// <summary>Names the service the request is for and, once matched, its route.</summary>
    public void Identify(string service, string? route)
    {
        Service = service;
        Route = route;
        if (Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag(TelemetryTags.Service, service);
            if (route is not null)
            {
                activity.SetTag(TelemetryTags.Route, route);
                activity.DisplayName = $"{method} {route}";
            }
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
