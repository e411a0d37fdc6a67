using System.Globalization;
using Mesh.Config;
using Mesh.Proxy.Forwarding;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Proxy.Policy;

/// <summary>
/// The stage after the rate limiter: fault injection (delay, then abort), redirects, buffering the body for replay,
/// the mirror copy, and the weighted choice of the backend service and its YARP endpoint (<see cref="BackendEndpoints"/>).
/// Header modifiers and rewrites are YARP transforms (<see cref="MeshTransformProvider"/>); retries, timeouts and the
/// circuit breaker run per try in the forwarder's client.
/// </summary>
internal sealed partial class RouteFiltersMiddleware(
    RequestDelegate next,
    IOptions<MeshProxyOptions> options,
    MirrorSender mirror,
    BackendEndpoints endpoints,
    TimeProvider time,
    ILogger<RouteFiltersMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Features.Get<MeshRequestFeature>()!;
        var route = feature.Route;
        if (!route.HasFilterWork(context.Request.Method))
        {
            // Most routes: no await, so no state machine for every request.
            ChooseBackend(context, feature, route);
            return next(context);
        }

        return ApplyFiltersAsync(context, feature, route);
    }

    private async Task ApplyFiltersAsync(HttpContext context, MeshRequestFeature feature, CompiledRoute route)
    {
        var model = route.Model;

        if (model.Fault is { } fault)
        {
            if (fault.Delay is { } delay && Draw(delay.Percent))
            {
                Log.FaultDelayInjected(logger, route.Id, delay.FixedDelay);
                await DelayAtLeastAsync(delay.FixedDelay, context.RequestAborted);
            }

            if (fault.Abort is { } abort && Draw(abort.Percent))
            {
                Log.FaultAbortInjected(logger, route.Id, abort.HttpStatus);
                context.RecordVerdict(ProxyVerdict.FaultInjected);
                await LocalReply.WriteAsync(context, abort.HttpStatus, MeshHeaders.Fault, "abort");
                return;
            }
        }

        if (route.Redirect is { } redirect)
        {
            var location = RedirectLocation(context.Request, redirect, feature);
            Log.Redirected(logger, route.Id, redirect.StatusCode, location);
            context.Response.StatusCode = redirect.StatusCode;
            context.Response.Headers.Location = location;
            context.Response.ContentLength = 0;
            return;
        }

        if (route.NeedsReplayableBody(context.Request.Method))
        {
            var limit = route.ReplayBodyLimit(options.Value.MaxReplayBodyBytes);
            feature.Body = await RequestBody.CaptureAsync(context.Request, limit, context.RequestAborted);
            if (feature.Body.Kind == RequestBodyKind.TooLarge)
            {
                Log.BodyNotReplayable(logger, route.Id, limit);
            }
        }

        foreach (var target in route.Mirrors)
        {
            if (Draw(target.Percent))
            {
                mirror.Send(context, feature, target);
            }
        }

        ChooseBackend(context, feature, route);
        await next(context);
    }

    private void ChooseBackend(HttpContext context, MeshRequestFeature feature, CompiledRoute route)
    {
        feature.Backend = route.Backends.Next();
        endpoints.Assign(context, feature.Backend);
    }

    // Timers tick coarsely and may fire a little early; an injected delay promises at least its duration.
    private async Task DelayAtLeastAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var start = time.GetTimestamp();
        var remaining = duration;
        while (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : remaining, time, cancellationToken);
            remaining = duration - time.GetElapsedTime(start);
        }
    }

    private static bool Draw(double percent) => percent >= 100 || (percent > 0 && Random.Shared.NextDouble() * 100 < percent);

    /// <summary>
    /// The Location of a Gateway API RequestRedirect. Unset parts keep the request's; an unset port is the scheme's
    /// well-known port when the scheme changes, else the service port the client connected to (the "listener" port in
    /// a mesh); a well-known port is left out. The query string is kept.
    /// </summary>
    internal static string RedirectLocation(HttpRequest request, RequestRedirectFilter redirect, MeshRequestFeature feature)
    {
        var scheme = redirect.Scheme ?? request.Scheme;
        var host = redirect.Hostname ?? request.Host.Host;
        var port = redirect.Port ?? (scheme != request.Scheme ? WellKnownPort(scheme) : feature.OriginalDestination.Port);
        var path = request.Path.Value ?? "/";
        if (redirect.Path is { } modifier)
        {
            path = PathRewriter.Apply(path, modifier, feature.MatchedBy?.Prefix);
        }

        if (host.Contains(':') && !host.StartsWith('['))
        {
            host = $"[{host}]";
        }

        var authority = port == WellKnownPort(scheme) ? host : $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";
        return $"{scheme}://{authority}{path}{request.QueryString}";
    }

    private static int WellKnownPort(string scheme) => scheme == "https" ? 443 : 80;

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.FaultDelayInjected, Level = LogLevel.Debug,
            Message = "Route {RouteId}: injecting a delay of {Delay}")]
        public static partial void FaultDelayInjected(ILogger logger, string routeId, TimeSpan delay);

        [LoggerMessage(EventId = EventIds.FaultAbortInjected, Level = LogLevel.Debug,
            Message = "Route {RouteId}: injecting an abort with {StatusCode}")]
        public static partial void FaultAbortInjected(ILogger logger, string routeId, int statusCode);

        [LoggerMessage(EventId = EventIds.Redirected, Level = LogLevel.Debug,
            Message = "Route {RouteId}: redirecting ({StatusCode}) to {Location}")]
        public static partial void Redirected(ILogger logger, string routeId, int statusCode, string location);

        [LoggerMessage(EventId = EventIds.BodyNotReplayable, Level = LogLevel.Debug,
            Message = "Route {RouteId}: request body is over {Limit} bytes; it is streamed once and not retried or mirrored")]
        public static partial void BodyNotReplayable(ILogger logger, string routeId, int limit);
    }
}
