using System.Diagnostics;
using System.Net;
using System.Text;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class MirrorTests
{
    [Fact]
    public async Task Mirror_Post_CopyWithBodyReachesMirrorAndClientGetsThePrimaryAnswer()
    {
        await using var primary = await TestUpstream.StartAsync((c, _) => c.Response.WriteAsync("primary"));
        var mirrored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var shadow = await TestUpstream.StartAsync((c, _) =>
        {
            mirrored.TrySetResult();
            return c.Response.WriteAsync("shadow");
        });
        var shadowService = Service("shadow", 2, shadow);
        var service = Service("web", 1, primary, Route("all") with { Filters = [new RequestMirrorFilter("shadow")] });
        await using var proxy = await TestProxy.StartAsync(service, shadowService);

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/orders?id=7", r =>
        {
            r.Headers.Add("x-trace", "abc");
            r.Content = new StringContent("{\"n\":1}", Encoding.UTF8, "application/json");
        });

        Assert.Equal("primary", await response.Content.ReadAsStringAsync());
        await mirrored.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var copy = shadow.Last;
        Assert.Equal(("POST", "/orders?id=7"), (copy.Method, copy.PathAndQuery));
        Assert.Equal("{\"n\":1}", Encoding.UTF8.GetString(copy.Body));
        Assert.Equal("abc", copy.Headers["x-trace"]);
        Assert.StartsWith("application/json", copy.Headers["Content-Type"]);
        Assert.Equal("{\"n\":1}", Encoding.UTF8.GetString(primary.Last.Body));
    }

    [Fact]
    public async Task Mirror_TwoMirrorsAndOneAtZeroPercent_EachRequestIsCopiedToBothAndNoneToTheThird()
    {
        const int requests = 20;
        await using var primary = await TestUpstream.StartAsync();
        await using var shadow = await TestUpstream.StartAsync();
        await using var audit = await TestUpstream.StartAsync();
        await using var never = await TestUpstream.StartAsync();
        var service = Service("web", 1, primary, Route("all") with
        {
            Filters =
            [
                new RequestMirrorFilter("shadow"),
                new RequestMirrorFilter("audit"),
                new RequestMirrorFilter("never") { Percent = 0 },
            ],
        });
        await using var proxy = await TestProxy.StartAsync(service, Service("shadow", 2, shadow), Service("audit", 3, audit), Service("never", 4, never));

        for (var i = 0; i < requests; i++)
        {
            using var response = await proxy.GetAsync(service, $"/items/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The copies are sent in the background: wait for them, bounded.
        var deadline = Stopwatch.StartNew();
        while ((shadow.Hits < requests || audit.Hits < requests) && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }

        var expected = Enumerable.Range(0, requests).Select(i => $"/items/{i}").Order();
        Assert.Equal(expected, shadow.Requests.Select(r => r.PathAndQuery).Order());
        Assert.Equal(expected, audit.Requests.Select(r => r.PathAndQuery).Order());
        Assert.Equal(requests, primary.Hits);
        Assert.Equal(0, never.Hits);
    }

    [Fact]
    public async Task Mirror_SlowMirror_DoesNotDelayThePrimary()
    {
        await using var primary = await TestUpstream.StartAsync();
        await using var shadow = await TestUpstream.StartAsync(async (c, _) => await Task.Delay(TimeSpan.FromSeconds(3), c.RequestAborted));
        var service = Service("web", 1, primary, Route("all") with { Filters = [new RequestMirrorFilter("shadow")] });
        await using var proxy = await TestProxy.StartAsync(service, Service("shadow", 2, shadow));
        (await proxy.GetAsync(service, "/warm-up")).Dispose();

        var elapsed = Stopwatch.StartNew();
        using var response = await proxy.GetAsync(service, "/");
        elapsed.Stop();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(1), $"took {elapsed.Elapsed.TotalMilliseconds} ms");
    }
}
