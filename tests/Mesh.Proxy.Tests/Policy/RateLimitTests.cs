using System.Net;
using Mesh.Proxy.Configuration;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class RateLimitTests
{
    [Fact]
    public async Task RateLimit_RequestAfterTheLimit_Gets429WithRetryAfter()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("limited") with { RateLimit = new RateLimitPolicy { Requests = 5, Window = TimeSpan.FromSeconds(30) } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        for (var i = 0; i < 5; i++)
        {
            using var allowed = await proxy.GetAsync(service, "/");
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        }

        using var limited = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        var retryAfter = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 30);
        Assert.Equal(5, upstream.Hits);
    }

    [Fact]
    public async Task RateLimit_PerSourceAddress_CountsEachSourceSeparately()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("limited") with
        {
            RateLimit = new RateLimitPolicy { Requests = 2, Window = TimeSpan.FromSeconds(30), PerSourceAddress = true },
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);
        using var clientA = proxy.CreateClient(IPAddress.Parse("127.0.0.2"));
        using var clientB = proxy.CreateClient(IPAddress.Parse("127.0.0.3"));

        var statusesA = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", client: clientA);
            statusesA.Add(response.StatusCode);
        }

        using var fromB = await proxy.SendAsync(service, HttpMethod.Get, "/", client: clientB);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statusesA);
        Assert.Equal(HttpStatusCode.OK, fromB.StatusCode);
        Assert.Equal(3, upstream.Hits);
    }

    [Fact]
    public async Task RateLimit_OtherRoute_IsNotLimited()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream,
            Route("limited", "/limited") with { RateLimit = new RateLimitPolicy { Requests = 1, Window = TimeSpan.FromSeconds(30) } },
            Route("free"));
        await using var proxy = await TestProxy.StartAsync(service);

        using var first = await proxy.GetAsync(service, "/limited");
        using var second = await proxy.GetAsync(service, "/limited");
        using var other = await proxy.GetAsync(service, "/other");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }
}
