using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class DenyAndAuthorizationTests
{
    [Fact]
    public async Task Deny_MatchingRoute_Returns403WithReasonAndNeverReachesUpstream()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var deny = Route("admin", "/admin") with { Action = RouteAction.Deny, DenyReason = "admin is internal" };
        var service = Service("web", 1, upstream, deny);
        await using var proxy = await TestProxy.StartAsync(service);

        using var denied = await proxy.GetAsync(service, "/admin/users");
        using var post = await proxy.SendAsync(service, HttpMethod.Post, "/admin", r => r.Content = new StringContent("x"));

        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("admin is internal", Assert.Single(denied.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Equal(0, upstream.Hits);
        Assert.Contains(proxy.Logs.Entries, e => e.EventId.Id == 12 && e.Message.Contains("admin is internal"));
    }

    [Fact]
    public async Task Deny_WithoutReason_DefaultReasonNamesTheRoute()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("blocked") with { Action = RouteAction.Deny });
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal("denied by route blocked", Assert.Single(response.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Deny_UnnamedRules_ReasonNamesThemAfterTheirIndexUniquely()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream,
            Route("a", "/a") with { Name = null, Action = RouteAction.Deny },
            Route("rule-0", "/named") with { Action = RouteAction.Deny },
            Route("c", "/c") with { Name = null, Action = RouteAction.Deny });
        await using var proxy = await TestProxy.StartAsync(service);

        using var first = await proxy.GetAsync(service, "/a");
        using var named = await proxy.GetAsync(service, "/named");
        using var third = await proxy.GetAsync(service, "/c");

        // rule-0 is taken by the file, so the first unnamed rule becomes rule-0-2.
        Assert.Equal("denied by route rule-0-2", Assert.Single(first.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal("denied by route rule-0", Assert.Single(named.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal("denied by route rule-2", Assert.Single(third.Headers.GetValues(MeshHeaders.DenyReason)));
    }

    [Fact]
    public async Task Authorization_SourceOutsideAllowedServiceCidrs_Gets403AndNeverReachesUpstream()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var frontend = Service("frontend", 2, null) with { Source = new ServiceSource { Cidrs = [IPNetwork.Parse("10.20.0.0/16")] } };
        var api = Service("api", 1, upstream, Route("all") with
        {
            Authorization = new AuthorizationPolicy { AllowFrom = ["frontend"] },
        });
        await using var proxy = await TestProxy.StartAsync(api, frontend);

        using var response = await proxy.GetAsync(api, "/orders");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("unknown source is not allowed by route api/all", Assert.Single(response.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Authorization_SourceFromAnotherService_Gets403NamingTheSource()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var frontend = Service("frontend", 2, null) with { Source = new ServiceSource { Cidrs = [IPNetwork.Parse("10.20.0.0/16")] } };
        var batch = Service("batch", 3, null) with { Source = new ServiceSource { Cidrs = [IPNetwork.Parse("127.0.0.0/8")] } };
        var api = Service("api", 1, upstream,
            Route("reports", "/reports") with { Authorization = new AuthorizationPolicy { AllowFrom = ["batch"] } },
            Route("all") with { Authorization = new AuthorizationPolicy { AllowFrom = ["frontend"] } });
        await using var proxy = await TestProxy.StartAsync(api, frontend, batch);

        using var response = await proxy.GetAsync(api, "/");
        using var report = await proxy.GetAsync(api, "/reports");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("source batch is not allowed by route api/all", Assert.Single(response.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task Authorization_SourceInsideAllowedServiceCidrs_IsForwarded()
    {
        await using var upstream = await TestUpstream.StartAsync();
        // The longest prefix names the source: 127.0.0.2/32 (frontend) beats 127.0.0.0/8 (batch).
        var frontend = Service("frontend", 2, null) with { Source = new ServiceSource { Cidrs = [IPNetwork.Parse("127.0.0.2/32")] } };
        var batch = Service("batch", 3, null) with { Source = new ServiceSource { Cidrs = [IPNetwork.Parse("127.0.0.0/8")] } };
        var api = Service("api", 1, upstream,
            Route("reports", "/reports") with { Authorization = new AuthorizationPolicy { AllowFrom = ["batch"] } },
            Route("all") with { Authorization = new AuthorizationPolicy { AllowFrom = ["frontend"] } });
        await using var proxy = await TestProxy.StartAsync(api, frontend, batch);
        using var fromFrontend = proxy.CreateClient(IPAddress.Parse("127.0.0.2"));
        using var fromBatch = proxy.CreateClient(IPAddress.Parse("127.0.0.3"));

        using var allowed = await proxy.SendAsync(api, HttpMethod.Get, "/", client: fromFrontend);
        using var denied = await proxy.SendAsync(api, HttpMethod.Get, "/", client: fromBatch);

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }
}
