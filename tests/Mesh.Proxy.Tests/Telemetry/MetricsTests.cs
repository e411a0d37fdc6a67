using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing.Telemetry;
using static Mesh.Proxy.Tests.Infrastructure.Services;
using static Mesh.Proxy.Tests.Telemetry.TelemetryTesting;

namespace Mesh.Proxy.Tests.Telemetry;

[Collection(TelemetryCollection.Name)]
public sealed class MetricsTests
{
    private static readonly HashSet<string> Labels = ["mesh.service", "mesh.route", "mesh.verdict", "mesh.status_class"];

    [Fact]
    public async Task Metrics_SevenRequests_DurationCountForTheRouteIsSeven_AndNoSecondRecordingCountsThemAgain()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("shop", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        for (var i = 0; i < 7; i++)
        {
            using var response = await proxy.GetAsync(service, $"/items/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        static bool ShopAll(IReadOnlyDictionary<string, object?> a) => a.GetValueOrDefault("mesh.route") is "shop/all";
        Assert.Equal(7, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", ShopAll, 7));
        Assert.Equal(0, receiver.Total("mesh.proxy.errors", ShopAll));
        // The histogram's count is the request count: a request costs one recording, not a counter's as well.
        Assert.DoesNotContain(receiver.Points, p => p.Metric == "mesh.proxy.requests");
        var point = receiver.Points.Last(p => p.Metric == "mesh.proxy.request.duration");
        Assert.Equal(
            new Dictionary<string, object?>
            {
                ["mesh.service"] = "shop", ["mesh.route"] = "shop/all", ["mesh.verdict"] = "allowed", ["mesh.status_class"] = "2xx",
            },
            point.Attributes);
    }

    [Fact]
    public async Task Metrics_DeniedAndFailedRequests_AreCountedAsErrorsByVerdictAndStatusClass()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync((context, _) =>
        {
            context.Response.StatusCode = context.Request.Path == "/fail" ? 500 : 200;
            return Task.CompletedTask;
        });
        var service = Service("shop", 1, upstream, Route("admin", "/admin") with { Action = RouteAction.Deny }, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        foreach (var path in new[] { "/", "/fail", "/fail", "/admin", "/admin", "/admin" })
        {
            using var response = await proxy.GetAsync(service, path);
        }

        Assert.Equal(6, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", a => a.GetValueOrDefault("mesh.service") is "shop", 6));
        Assert.Equal(3, await receiver.WaitForTotalAsync("mesh.proxy.errors", a => a.GetValueOrDefault("mesh.verdict") is "denied"
            && a.GetValueOrDefault("mesh.status_class") is "4xx" && a.GetValueOrDefault("mesh.route") is "shop/admin", 3));
        Assert.Equal(2, await receiver.WaitForTotalAsync("mesh.proxy.errors", a => a.GetValueOrDefault("mesh.verdict") is "allowed"
            && a.GetValueOrDefault("mesh.status_class") is "5xx" && a.GetValueOrDefault("mesh.route") is "shop/all", 2));
        Assert.Equal(5, receiver.Total("mesh.proxy.errors", _ => true));
        Assert.All(receiver.Points, p => Assert.Subset(Labels, p.Attributes.Keys.ToHashSet()));
    }
}
