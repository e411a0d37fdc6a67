using System.Net;
using Mesh.Config;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Hosting;

public sealed class ProtocolTests
{
    [Fact]
    public async Task H2c_ClientToProxyAndProxyToUpstream_IsHttp2EndToEnd()
    {
        await using var upstream = await TestUpstream.StartAsync(protocols: HttpProtocols.Http2);
        var service = Service("grpcish", 1, upstream, Route("all")) with { Protocol = UpstreamProtocol.H2c };
        await using var proxy = await TestProxy.StartAsync(service);
        using var h2 = proxy.CreateClient(null, HttpVersion.Version20);

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/call", r => r.Content = new StringContent("ping"), h2);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", upstream.Last.Protocol);
        Assert.Equal("ping", System.Text.Encoding.UTF8.GetString(upstream.Last.Body));
        Assert.Equal(service.EndPoint.ToString(), upstream.Last.Headers["Host"]);
    }

    [Fact]
    public async Task Listener_Http1AndH2cClients_AreBothServedOnTheSamePort()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        using var h2 = proxy.CreateClient(null, HttpVersion.Version20);

        using var overHttp1 = await proxy.GetAsync(service, "/");
        using var overH2c = await proxy.SendAsync(service, HttpMethod.Get, "/", client: h2);

        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11), (overHttp1.StatusCode, overHttp1.Version));
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (overH2c.StatusCode, overH2c.Version));
        Assert.All(upstream.Requests, r => Assert.Equal("HTTP/1.1", r.Protocol));
    }

    [Fact]
    public async Task H2c_Http1ClientToH2cService_UpstreamIsCalledOverHttp2()
    {
        await using var upstream = await TestUpstream.StartAsync(protocols: HttpProtocols.Http2);
        var service = Service("web", 1, upstream) with { Protocol = UpstreamProtocol.H2c };
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("HTTP/2", upstream.Last.Protocol);
    }

    [Fact]
    public async Task Listen_TwoPortsResolvedByLocalPort_EachPortReachesItsService()
    {
        await using var upstreamA = await TestUpstream.StartAsync((c, _) => c.Response.WriteAsync("a"));
        await using var upstreamB = await TestUpstream.StartAsync((c, _) => c.Response.WriteAsync("b"));
        var portA = ClosedPort().Port;
        var portB = ClosedPort().Port;
        var a = Service("a", 1, upstreamA);
        var b = Service("b", 2, upstreamB);
        var resolver = new LocalPortResolver(new() { [portA] = a.EndPoint, [portB] = b.EndPoint });
        await using var proxy = await TestProxy.StartAsync([a, b], resolver,
            [new IPEndPoint(IPAddress.Loopback, portA), new IPEndPoint(IPAddress.Loopback, portB)]);
        using var client = new HttpClient();

        var viaA = await client.GetStringAsync($"http://127.0.0.1:{portA}/");
        var viaB = await client.GetStringAsync($"http://127.0.0.1:{portB}/");

        Assert.Equal(("a", "b"), (viaA, viaB));
        Assert.Equal([portA, portB], proxy.Host.ListenEndPoints.Select(e => e.Port));
    }

    [Fact]
    public async Task Listener_ClientSendsNothing_IsClosedWithoutAffectingOthers()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        using var idle = new System.Net.Sockets.TcpClient();
        await idle.ConnectAsync(proxy.EndPoint);
        idle.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A test resolver keyed by the listener port the connection arrived on.</summary>
    private sealed class LocalPortResolver(Dictionary<int, IPEndPoint> byPort) : IOriginalDestinationResolver
    {
        public IPEndPoint? Resolve(HttpContext context) => byPort.GetValueOrDefault(context.Connection.LocalPort);
    }
}
