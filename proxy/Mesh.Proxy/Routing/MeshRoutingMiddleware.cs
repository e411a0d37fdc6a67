using Mesh.Proxy.Management;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy.Routing;

/// <summary>
/// First stage of the request path: finds the service from the connection's original destination, picks the first
/// matching route of that service, and enforces authorization and deny actions.
/// </summary>
/// <remarks>
/// Route matching is done here rather than by YARP's route matching. The routes are scoped to the original
/// destination, which endpoint routing cannot see, and Gateway API semantics (first match in the order written,
/// case-sensitive paths, element-wise prefixes, regular expressions for paths and headers) do not map onto ASP.NET
/// route templates and YARP's header matchers without loss. YARP keeps one route and cluster per service; the YARP
/// endpoint of the backend this middleware's decision points to is then set directly (<see cref="BackendEndpoints"/>),
/// or, for a backend YARP does not have yet, selected by <see cref="BackendEndpointSelectorPolicy"/>.
/// </remarks>
internal sealed partial class MeshRoutingMiddleware(
    RequestDelegate next,
    MeshProxyConfigProvider config,
    IOriginalDestinationResolver resolver,
    ILogger<MeshRoutingMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var snapshot = config.Snapshot;
        var telemetry = context.Features.Get<RequestTelemetry>();
        var destination = resolver.Resolve(context);
        if (destination is null)
        {
            Log.NoOriginalDestination(logger, context.Connection.RemoteIpAddress, context.Connection.RemotePort);
            return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, MeshHeaders.Error, "unknown-destination");
        }

        if (!snapshot.TryGetService(destination, out var service))
        {
            Log.UnknownDestination(logger, destination, snapshot.Version);
            return LocalReply.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, MeshHeaders.Error, "unknown-destination");
        }

        telemetry?.Identify(service.Name);
        var source = snapshot.Sources.Identify(context.Connection.RemoteIpAddress, resolver.SourceCgroup(context), WorkloadListener.Of(context));
        telemetry?.IdentifySource(source);
        if (!service.TryMatch(context.Request, out var route, out var matchedBy))
        {
            return Deny(context, service.Name, null, "no route matched", DenyKind.NoRoute);
        }

        telemetry?.Identify(route);

        if (route.Authorization is { } routeRule && !routeRule.Allows(source))
        {
            return Deny(context, service.Name, route.Name, routeRule.DenyReason(source), DenyKind.Source);
        }

        if (route.Model.Action == Mesh.Config.RouteAction.Deny)
        {
            var reason = route.Model.DenyReason ?? $"denied by route {route.Name}";
            return Deny(context, service.Name, route.Name, reason, DenyKind.Route);
        }

        Log.RouteMatched(logger, context.Request.Method, context.Request.Path, route.Id, source);
        telemetry?.Decide(ProxyVerdict.Allowed);
        context.Features.Set(new MeshRequestFeature
        {
            Snapshot = snapshot,
            OriginalDestination = destination,
            Service = service,
            Route = route,
            MatchedBy = matchedBy,
            SourceService = source,
            Telemetry = telemetry,
        });
        return next(context);
    }

    private Task Deny(HttpContext context, string service, string? route, string reason, DenyKind kind)
    {
        var (method, path) = (context.Request.Method, context.Request.Path);
        switch (kind)
        {
            case DenyKind.Source:
                Log.SourceNotAllowed(logger, method, path, service, route, reason);
                break;
            case DenyKind.NoRoute:
                Log.NoRouteMatched(logger, method, path, service);
                break;
            default:
                Log.RouteDenied(logger, method, path, service, route, reason);
                break;
        }

        context.RecordVerdict(ProxyVerdict.Denied);
        return LocalReply.WriteAsync(context, StatusCodes.Status403Forbidden, MeshHeaders.DenyReason, reason);
    }

    private enum DenyKind
    {
        Route,
        NoRoute,
        Source,
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.NoOriginalDestination, Level = LogLevel.Warning,
            Message = "No original destination for the connection from {Address}:{Port}; answering 503")]
        public static partial void NoOriginalDestination(ILogger logger, System.Net.IPAddress? address, int port);

        [LoggerMessage(EventId = EventIds.UnknownDestination, Level = LogLevel.Warning,
            Message = "No service has the address {Destination} in config version {Version}; answering 503")]
        public static partial void UnknownDestination(ILogger logger, System.Net.IPEndPoint destination, long version);

        [LoggerMessage(EventId = EventIds.RouteMatched, Level = LogLevel.Debug,
            Message = "{Method} {Path} matched route {RouteId} (source {Source})")]
        public static partial void RouteMatched(ILogger logger, string method, PathString path, string routeId, string? source);

        [LoggerMessage(EventId = EventIds.SourceNotAllowed, Level = LogLevel.Information,
            Message = "Denied {Method} {Path} to service {Service} (route {Route}): {Reason}")]
        public static partial void SourceNotAllowed(ILogger logger, string method, PathString path, string service, string? route, string reason);

        [LoggerMessage(EventId = EventIds.NoRouteMatched, Level = LogLevel.Debug,
            Message = "Denied {Method} {Path} to service {Service}: no route matched and the default is deny")]
        public static partial void NoRouteMatched(ILogger logger, string method, PathString path, string service);

        [LoggerMessage(EventId = EventIds.RouteDenied, Level = LogLevel.Debug,
            Message = "Denied {Method} {Path} to service {Service} by route {Route}: {Reason}")]
        public static partial void RouteDenied(ILogger logger, string method, PathString path, string service, string? route, string reason);
    }
}
