using System.Net;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>
/// Tells which service address:port a diverted connection was originally opened to. The kernel rewrites the
/// destination of connections to services with HTTP policy (cgroup/connect4) to the proxy's listener; the kernel-backed
/// implementation looks the client's socket up in the map that program fills. Implementations must be thread-safe and
/// fast: the proxy calls this once per request (cache per connection, e.g. in <c>IConnectionItemsFeature</c>, if a
/// lookup is costly).
/// </summary>
public interface IOriginalDestinationResolver
{
    /// <summary>The original destination of the request's connection, or null if unknown (the proxy answers 503).</summary>
    IPEndPoint? Resolve(HttpContext context);

    /// <summary>
    /// The id of the configured source cgroup (<see cref="Mesh.Config.ServiceSource.Cgroup"/>) the client's
    /// process was in when it connected, the deepest if several; 0 when none or unknown. Only the kernel can tell.
    /// </summary>
    ulong SourceCgroup(HttpContext context) => 0;
}

/// <summary>
/// Reads the original destination from the Host header ("10.96.0.10:8080"; port 80 if absent). For tests and local
/// experiments only: a client chooses its own Host header, so this must never stand in for the kernel lookup.
/// </summary>
public sealed class HostHeaderDestinationResolver : IOriginalDestinationResolver
{
    /// <inheritdoc />
    public IPEndPoint? Resolve(HttpContext context)
    {
        var host = context.Request.Host;
        if (!host.HasValue || !IPAddress.TryParse(host.Host.Trim('[', ']'), out var address))
        {
            return null;
        }

        return new IPEndPoint(address, host.Port ?? 80);
    }
}
