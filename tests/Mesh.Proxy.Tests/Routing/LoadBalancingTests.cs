using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Xunit.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Routing;

public sealed class LoadBalancingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task WeightedBackends_EightyTwentyOver1000Requests_SplitWithinFivePercent()
    {
        await using var stable = await TestUpstream.StartAsync();
        await using var canary = await TestUpstream.StartAsync();
        var route = Route("split") with { BackendRefs = [new BackendRef("reviews-v1", 80), new BackendRef("reviews-v2", 20)] };
        var reviews = Service("reviews", 1, null, route);
        await using var proxy = await TestProxy.StartAsync(reviews, Service("reviews-v1", 2, stable), Service("reviews-v2", 3, canary));

        var next = 0;
        var failures = 0;
        var workers = Enumerable.Range(0, 4).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= 1000)
            {
                using var response = await proxy.GetAsync(reviews, "/reviews/1");
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });
        await Task.WhenAll(workers);

        output.WriteLine($"stable {stable.Hits}, canary {canary.Hits} of 1000");
        Assert.Equal(0, failures);
        Assert.Equal(1000, stable.Hits + canary.Hits);
        Assert.InRange(stable.Hits, 750, 850);
        Assert.InRange(canary.Hits, 150, 250);
    }

    [Fact]
    public async Task Endpoints_SeveralOfOneService_AllReceiveTraffic()
    {
        await using var first = await TestUpstream.StartAsync();
        await using var second = await TestUpstream.StartAsync();
        var service = Service("web", 1, first) with { Endpoints = [first.EndPoint, second.EndPoint] };
        await using var proxy = await TestProxy.StartAsync(service);

        for (var i = 0; i < 100; i++)
        {
            using var response = await proxy.GetAsync(service, "/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        output.WriteLine($"endpoint 1: {first.Hits}, endpoint 2: {second.Hits} of 100");
        Assert.InRange(first.Hits, 20, 80);
        Assert.Equal(100, first.Hits + second.Hits);
    }
}
