using System.Diagnostics;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class RateLimitTests
{
    /// <summary>One request every 30 s: nothing refills within a test.</summary>
    private const double Slow = 1.0 / 30;

    [Fact]
    public async Task RateLimit_RequestAfterTheBurst_Gets429WithRetryAfter()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("limited") with { RateLimit = new RateLimitPolicy { RequestsPerSecond = Slow, Burst = 5 } };
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
    public async Task RateLimit_Burst5At1PerSecond_FiveAtOnceThenOneASecondAcrossTheOldWindowEdge()
    {
        // The bucket holds 5 and refills 1 a second. A fixed window of 5 requests per 5 s (what the proxy ran before)
        // would let 5 more through at once when its window turned, 5 s after the first request.
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("limited", "/limited") with { RateLimit = new RateLimitPolicy { RequestsPerSecond = 1, Burst = 5 } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);
        // Warmed up on the unlimited default route, so that the burst's requests take milliseconds, not a JIT's time.
        for (var i = 0; i < 3; i++)
        {
            using var warmUp = await proxy.GetAsync(service, "/warm-up");
        }

        var clock = Stopwatch.StartNew();
        var atOnce = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await proxy.GetAsync(service, "/limited");
            atOnce.Add(response.StatusCode);
        }

        var burstEnded = clock.Elapsed;
        var allowedAt = new List<TimeSpan>();
        while (clock.Elapsed < TimeSpan.FromSeconds(7.5))
        {
            using var response = await proxy.GetAsync(service, "/limited");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                allowedAt.Add(clock.Elapsed);
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        var spell = (clock.Elapsed - burstEnded).TotalSeconds;
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 3)], atOnce);
        Assert.True(burstEnded < TimeSpan.FromSeconds(1), $"the burst took {burstEnded}");
        // The bucket was empty after the burst: the k-th later request can only pass once k tokens have dripped in
        // (one more for the proxy's 100 ms refill tick), however the machine delayed the requests.
        for (var k = 1; k <= allowedAt.Count; k++)
        {
            Assert.True((allowedAt[k - 1] - burstEnded).TotalSeconds >= k - 0.15,
                $"request {k} after the burst passed at {(allowedAt[k - 1] - burstEnded).TotalSeconds:F2} s");
        }
        Assert.InRange(allowedAt.Count, (int)spell - 2, (int)spell + 1);
        Assert.InRange(allowedAt.Count(t => t > TimeSpan.FromSeconds(4.5) && t < TimeSpan.FromSeconds(5.5)), 0, 2);
        Assert.Equal(3 + 5 + allowedAt.Count, upstream.Hits);
    }

    [Fact]
    public async Task RateLimit_PerSourceAddress_CountsEachSourceSeparately()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("limited") with { RateLimit = new RateLimitPolicy { RequestsPerSecond = Slow, Burst = 2, PerSource = true } };
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
            Route("limited", "/limited") with { RateLimit = new RateLimitPolicy { RequestsPerSecond = Slow, Burst = 1 } },
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
