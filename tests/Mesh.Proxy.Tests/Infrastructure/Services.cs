using System.Net;
using Mesh.Config;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>Builds the config's services for tests. Service addresses are loopback identifiers the proxy never dials.</summary>
internal static class Services
{
    public static IPEndPoint Address(int n) => new(IPAddress.Parse($"127.77.0.{n}"), 8080);

    public static ServiceConfig Service(
        string name,
        int n,
        TestUpstream? upstream,
        params HttpRouteRule[] rules) => new()
        {
            Name = name,
            Address = Address(n).Address,
            Port = Address(n).Port,
            Endpoints = upstream is null ? [] : [upstream.EndPoint],
            Rules = [.. rules],
        };

    public static HttpRouteRule Route(string name, string? pathPrefix = null) => new()
    {
        Name = name,
        Matches = pathPrefix is null ? [new RouteMatch()] : [new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, pathPrefix) }],
    };

    /// <summary>A port with nothing listening: connections to it are refused.</summary>
    public static IPEndPoint ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        listener.Stop();
        return endpoint;
    }
}
