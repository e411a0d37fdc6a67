using System.Net;

namespace Mesh.Proxy.Routing;

/// <summary>
/// One RequestMirror of a compiled route: the service that receives the copies, the share of requests copied, and a
/// round-robin cursor over that service's endpoints (a copy is one fire-and-forget request, so it needs no load
/// balancer of YARP's).
/// </summary>
internal sealed class RouteMirror(BackendService target, double percent)
{
    private int _cursor;

    public BackendService Target { get; } = target;

    /// <summary>Share of requests copied, 0 to 100.</summary>
    public double Percent { get; } = percent;

    /// <summary>The endpoint for the next copy, or null when the service has none.</summary>
    public IPEndPoint? NextEndpoint()
    {
        var endpoints = Target.Endpoints;
        if (endpoints.Length == 0)
        {
            return null;
        }

        var index = (uint)Interlocked.Increment(ref _cursor) % (uint)endpoints.Length;
        return endpoints[index];
    }
}
