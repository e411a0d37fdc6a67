using System.Net;
using Mesh.Proxy.Hosting;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Hosting;

public sealed class ReadinessProbeTests
{
    [Fact]
    public async Task ReadinessProbe_NotDiverted_IsAnsweredByTheProxy()
    {
        await using var proxy = await TestProxy.StartAsync();

        // A Host that is no address: the test resolver, like the kernel for a direct dial, finds no original destination.
        using var response = await proxy.Client.GetAsync($"http://localhost:{proxy.EndPoint.Port}{ReadinessProbe.Path}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ReadinessProbePath_OnDivertedConnection_IsForwardedLikeAnyRequest()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, ReadinessProbe.Path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ReadinessProbe.Path, upstream.Last.PathAndQuery);
    }
}
