using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy.Policy;

/// <summary>
/// The ASP.NET Core rate limiter's global limiter, partitioned per route (and per source address when the route asks).
/// Routes change at run time, so per-route limits cannot be named policies registered at startup; the partition key
/// holds the compiled route of the request's config version, and a new version starts fresh windows (the rate-limiting
/// middleware disposes idle partitions). Over the limit: 429 with Retry-After, from the lease's metadata.
/// </summary>
internal sealed partial class RouteRateLimiter : IDisposable
{
    private readonly ILogger<RouteRateLimiter> _logger;

    public RouteRateLimiter(ILogger<RouteRateLimiter> logger)
    {
        _logger = logger;
        Limiter = PartitionedRateLimiter.Create<HttpContext, PartitionKey>(Partition);
    }

    public PartitionedRateLimiter<HttpContext> Limiter { get; }

    public void Configure(RateLimiterOptions options)
    {
        options.GlobalLimiter = Limiter;
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected = OnRejected;
    }

    public void Dispose() => Limiter.Dispose();

    private static RateLimitPartition<PartitionKey> Partition(HttpContext context)
    {
        var route = context.Features.Get<MeshRequestFeature>()?.Route;
        if (route?.Model.RateLimit is not { } limit)
        {
            return RateLimitPartition.GetNoLimiter(default(PartitionKey));
        }

        var source = limit.PerSourceAddress ? context.Connection.RemoteIpAddress : null;
        return RateLimitPartition.GetFixedWindowLimiter(new PartitionKey(route, source), _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = limit.Requests,
            Window = limit.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    private ValueTask OnRejected(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var seconds = 1;
        if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        }

        var http = context.HttpContext;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        http.Response.ContentLength = 0;
        http.RecordVerdict(ProxyVerdict.RateLimited);
        Log.RateLimited(_logger, http.Features.Get<MeshRequestFeature>()?.Route.Id, http.Connection.RemoteIpAddress, seconds);
        return default;
    }

    // Reference equality on the route: each config version has its own windows.
    private readonly record struct PartitionKey(CompiledRoute? Route, IPAddress? Source);

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RateLimited, Level = LogLevel.Debug,
            Message = "Route {RouteId}: rate limit reached for {Source}; answering 429, retry after {Seconds} s")]
        public static partial void RateLimited(ILogger logger, string? routeId, IPAddress? source, int seconds);
    }
}
