using System.Diagnostics;
using System.Net;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Testing;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// A client inside the cgroup calls a service address directly; the kernel diverts the connection
/// to the node proxy and the service's policy applies, end to end through the real agent.
/// </summary>
public sealed class L7DiversionTests(L7Node node) : IClassFixture<L7Node>
{
    [Fact]
    public async Task Get_DeniedPath_Gets403WithReasonAndNeverReachesUpstream()
    {
        using var client = L7Node.Client();

        using var response = await client.GetAsync($"http://{L7Node.Catalog}/admin/users");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("admin is internal", Assert.Single(response.Headers.GetValues("x-mesh-deny-reason")));
        Assert.False(node.Hits.ContainsKey("catalog /admin/users"));
    }

    [Fact]
    public async Task Get_RouteSettingHeader_UpstreamSeesHeaderAndClientSeesService()
    {
        using var client = L7Node.Client();

        var body = await client.GetStringAsync($"http://{L7Node.Catalog}/items");

        Assert.Equal("catalog", body);
        Assert.Equal("catalog-rest", node.SeenHeaders["/items"]["x-mesh-route"]);
    }

    [Fact]
    public async Task Get_UpstreamFailingTwice_ClientGets200AfterThreeAttempts()
    {
        using var client = L7Node.Client();

        using var response = await client.GetAsync($"http://{L7Node.Catalog}/flaky/1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, node.Hits["catalog /flaky/1"]);
    }

    [Fact]
    public async Task Get_SlowUpstream_Gets504WithinTimeoutPlus100Ms()
    {
        using var client = L7Node.Client();
        await client.GetAsync($"http://{L7Node.Catalog}/items"); // connection set up outside the measurement

        var watch = Stopwatch.StartNew();
        using var response = await client.GetAsync($"http://{L7Node.Catalog}/slow");
        watch.Stop();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.InRange(watch.Elapsed.TotalMilliseconds, 500 - TimerClock.EarlyFiringAllowance.TotalMilliseconds, 600);
    }

    [Fact]
    public async Task Get_AfterThreeFailures_CircuitAnswers503WithoutCallingUpstream()
    {
        using var client = L7Node.Client();
        for (var i = 0; i < 3; i++)
        {
            using var failed = await client.GetAsync($"http://{L7Node.Catalog}/fail");
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        using var open = await client.GetAsync($"http://{L7Node.Catalog}/fail");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, open.StatusCode);
        Assert.Equal(3, node.Hits["catalog /fail"]);
    }

    [Fact]
    public async Task Get_OverRateLimit_SixthRequestGets429WithRetryAfter()
    {
        using var client = L7Node.Client();
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 6; i++)
        {
            last?.Dispose();
            last = await client.GetAsync($"http://{L7Node.Catalog}/limited");
            statuses.Add(last.StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 5).Append(HttpStatusCode.TooManyRequests), statuses);
        Assert.NotNull(last!.Headers.RetryAfter);
        last.Dispose();
    }

    [Fact]
    public async Task Get_EightyTwentySplit_ThousandRequestsLandWithinFivePercent()
    {
        using var client = L7Node.Client();
        var v1 = 0;
        for (var i = 0; i < 1000; i++)
        {
            if (await client.GetStringAsync($"http://{L7Node.Shop}/") == "shop-v1")
            {
                v1++;
            }
        }

        Assert.InRange(v1, 750, 850);
    }

    [Fact]
    public async Task Get_ServiceWithoutPolicy_IsSplicedInKernelAndNotDiverted()
    {
        using var divertCounters = BpfMap.OpenPinned(Path.Combine(node.Sandbox.PinDirectory, MapNames.DivertCounters));
        var divertedBefore = divertCounters.SumPerCpu((uint)DivertCounter.Connections);
        var splicedBefore = node.Sandbox.PinnedCounters().BytesRedirected;
        using var client = L7Node.Client();

        var body = await client.GetStringAsync($"http://{node.Plain}/direct");

        Assert.Equal("plain", body);
        Assert.Equal(divertedBefore, divertCounters.SumPerCpu((uint)DivertCounter.Connections));
        Assert.True(node.Sandbox.PinnedCounters().BytesRedirected > splicedBefore, "the direct call was not spliced");
    }
}
