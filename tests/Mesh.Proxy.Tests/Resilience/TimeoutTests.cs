using System.Diagnostics;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing;
using Xunit.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Resilience;

[Collection(TimingCollection.Name)]
public sealed class TimeoutTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Timeout_SlowUpstream_Gets504WithinTimeoutPlus100Ms()
    {
        var timeout = TimeSpan.FromMilliseconds(300);
        await using var upstream = await TestUpstream.StartAsync(async (c, _) =>
        {
            if (c.Request.Path == "/slow")
            {
                await Task.Delay(TimeSpan.FromSeconds(5), c.RequestAborted);
            }
        });
        var service = Service("web", 1, upstream,
            Route("slow", "/slow") with { Timeouts = new RouteTimeouts { Request = timeout } },
            Route("fast") with { Timeouts = new RouteTimeouts { Request = timeout } });
        await using var proxy = await TestProxy.StartAsync(service);
        (await proxy.GetAsync(service, "/fast")).Dispose();

        var elapsed = Stopwatch.StartNew();
        using var response = await proxy.GetAsync(service, "/slow");
        elapsed.Stop();

        output.WriteLine($"504 after {elapsed.Elapsed.TotalMilliseconds:F1} ms for a {timeout.TotalMilliseconds} ms timeout " +
            $"(overshoot {(elapsed.Elapsed - timeout).TotalMilliseconds:F1} ms)");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout", Assert.Single(response.Headers.GetValues(MeshHeaders.Error)));
        Assert.InRange(elapsed.Elapsed, timeout - TimerClock.EarlyFiringAllowance, timeout + TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Timeout_BackendRequestPerTry_SlowTryIsRetriedAndTheNextSucceeds()
    {
        await using var upstream = await TestUpstream.StartAsync(async (c, hit) =>
        {
            if (hit == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), c.RequestAborted);
            }
        });
        var route = Route("all") with
        {
            Timeouts = new RouteTimeouts { Request = TimeSpan.FromSeconds(2), BackendRequest = TimeSpan.FromMilliseconds(200) },
            Retry = new RetryPolicy(),
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        var elapsed = Stopwatch.StartNew();
        using var response = await proxy.GetAsync(service, "/");
        elapsed.Stop();

        output.WriteLine($"200 after {elapsed.Elapsed.TotalMilliseconds:F1} ms (first try cut at 200 ms)");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, upstream.Hits);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(1), $"took {elapsed.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Timeout_BackendRequestWithoutRetry_Gets504()
    {
        await using var upstream = await TestUpstream.StartAsync(async (c, _) => await Task.Delay(TimeSpan.FromSeconds(5), c.RequestAborted));
        var route = Route("all") with { Timeouts = new RouteTimeouts { BackendRequest = TimeSpan.FromMilliseconds(150) } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }
}
