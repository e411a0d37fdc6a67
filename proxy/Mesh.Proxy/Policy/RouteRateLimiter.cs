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
/// The ASP.NET Core rate limiter's global limiter: a token bucket per route (and per source address when the rule says
/// <c>perSource</c>), holding <c>burst</c> tokens and refilled at <c>requestsPerSecond</c>. Routes change at run time,
/// so per-route limits cannot be named policies registered at startup; the partition key holds the compiled route of
/// the request's config version, and a new version starts with full buckets (the partitioned limiter disposes idle
/// ones). Over the limit: 429 with Retry-After, from the lease's metadata.
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

        var source = limit.PerSource ? context.Connection.RemoteIpAddress : null;
        return RateLimitPartition.GetTokenBucketLimiter(new PartitionKey(route, source), _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit.Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromTicks(Math.Max(1, (long)Math.Round(TimeSpan.TicksPerSecond / limit.RequestsPerSecond))),
            QueueLimit = 0,
            // The partitioned limiter refills every bucket on its own 100 ms tick, in proportion to the time passed
            // (fractions of a token kept); it never gives a partition a timer of its own.
            AutoReplenishment = false,
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
