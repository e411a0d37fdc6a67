using System.Diagnostics;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing;
using Xunit.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

[Collection(TimingCollection.Name)]
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FaultAbort_HundredPercent_ReturnsTheStatusAndNeverReachesUpstream()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("chaos") with { Fault = new FaultPolicy { Abort = new FaultAbort(503) } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        for (var i = 0; i < 20; i++)
        {
            using var response = await proxy.GetAsync(service, "/");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("abort", Assert.Single(response.Headers.GetValues(MeshHeaders.Fault)));
        }

        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task FaultAbort_ZeroPercent_Forwards()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("chaos") with { Fault = new FaultPolicy { Abort = new FaultAbort(500) { Percent = 0 } } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task FaultDelay_HundredPercent_AddsAtLeastTheDelay()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var delay = TimeSpan.FromMilliseconds(300);
        var service = Service("web", 1, upstream,
            Route("slow", "/slow") with { Fault = new FaultPolicy { Delay = new FaultDelay(delay) } },
            Route("fast"));
        await using var proxy = await TestProxy.StartAsync(service);
        (await proxy.GetAsync(service, "/fast")).Dispose();

        var fast = Stopwatch.StartNew();
        using (var response = await proxy.GetAsync(service, "/fast"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        fast.Stop();
        var slow = Stopwatch.StartNew();
        using (var response = await proxy.GetAsync(service, "/slow"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        slow.Stop();
        output.WriteLine($"without delay {fast.Elapsed.TotalMilliseconds:F1} ms, with a {delay.TotalMilliseconds} ms delay {slow.Elapsed.TotalMilliseconds:F1} ms");
        Assert.True(slow.Elapsed >= delay - TimerClock.EarlyFiringAllowance, $"took {slow.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(3, upstream.Hits);
    }
}
