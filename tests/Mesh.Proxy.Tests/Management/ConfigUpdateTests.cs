using System.Net;
using Mesh.Config;
using Mesh.Proxy.Management;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Management;

public sealed class ConfigUpdateTests
{
    private static HttpRouteRule Versioned(string version) => Route("all") with
    {
        Filters =
        [
            new RequestHeaderModifierFilter(new HeaderModifier { Set = [new HttpHeader("x-config", version)] }),
            new ResponseHeaderModifierFilter(new HeaderModifier { Set = [new HttpHeader("x-config", version)] }),
        ],
    };

    [Fact]
    public async Task Update_WhileASlowRequestIsInFlight_ItCompletesAndTheNextRequestSeesTheNewRoutes()
    {
        var slowArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (c, _) =>
        {
            if (c.Request.Path == "/slow")
            {
                slowArrived.TrySetResult();
                await Task.Delay(TimeSpan.FromMilliseconds(500), c.RequestAborted);
            }

            await c.Response.WriteAsync("done");
        });
        var v1 = Service("web", 1, upstream, Versioned("v1"));
        await using var proxy = await TestProxy.StartAsync(v1);

        var inFlight = proxy.GetAsync(v1, "/slow");
        await slowArrived.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var version = proxy.Host.Config.Update([Service("web", 1, upstream, Route("admin", "/admin") with { Action = RouteAction.Deny }, Versioned("v2"))]);
        using var after = await proxy.GetAsync(v1, "/next");
        using var denied = await proxy.GetAsync(v1, "/admin");
        using var slow = await inFlight;

        Assert.Equal(2, version);
        Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
        Assert.Equal("done", await slow.Content.ReadAsStringAsync());
        Assert.Equal("v1", Assert.Single(slow.Headers.GetValues("x-config")));
        Assert.Equal("v2", Assert.Single(after.Headers.GetValues("x-config")));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        var seen = upstream.Requests.ToDictionary(r => r.PathAndQuery, r => r.Headers["x-config"]);
        Assert.Equal("v1", seen["/slow"]);
        Assert.Equal("v2", seen["/next"]);
    }

    [Fact]
    public async Task Update_AddsAServiceAndRemovesAnother_NextRequestsFollowAtOnce()
    {
        await using var first = await TestUpstream.StartAsync();
        await using var second = await TestUpstream.StartAsync();
        var a = Service("a", 1, first);
        var b = Service("b", 2, second);
        await using var proxy = await TestProxy.StartAsync(a);

        proxy.Host.Config.Update([b]);
        using var toB = await proxy.GetAsync(b, "/");
        using var toA = await proxy.GetAsync(a, "/");

        Assert.Equal(HttpStatusCode.OK, toB.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, toA.StatusCode);
        Assert.Equal((0, 1), (first.Hits, second.Hits));
    }

    [Fact]
    public async Task Update_InvalidConfig_ThrowsAndTheLastGoodConfigStays()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        var broken = service with { Rules = [Route("r") with { BackendRefs = [new BackendRef("missing")] }] };

        var error = Assert.Throws<ProxyConfigException>(() => proxy.Host.Config.Update([broken]));
        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(["route web/r: backendRef 'missing' is not a service"], error.Errors);
        Assert.Equal(1, proxy.Host.Config.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(proxy.Logs.Entries, e => e.EventId.Id == 2);
    }

    [Fact]
    public async Task Update_NewRouteVersion_RebuildsTheCircuitBreaker()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(500, 500, 200);
        var route = Route("all") with { CircuitBreaker = new CircuitBreakerPolicy { ConsecutiveFailures = 2, BreakDuration = TimeSpan.FromMinutes(1) } };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);
        (await proxy.GetAsync(service, "/")).Dispose();
        (await proxy.GetAsync(service, "/")).Dispose();
        using var open = await proxy.GetAsync(service, "/");

        proxy.Host.Config.Update([service]);
        using var fresh = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, open.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
    }

    [Fact]
    public async Task Update_MirrorAndAllowFromNamingNoService_AreRefusedWithTheRoute()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        var broken = service with
        {
            Rules =
            [
                Route("r") with
                {
                    Filters = [new RequestMirrorFilter("ghost")],
                    Authorization = new AuthorizationPolicy { AllowFrom = ["nobody"] },
                },
            ],
        };

        var error = Assert.Throws<ProxyConfigException>(() => proxy.Host.Config.Update([broken]));

        Assert.Equal(["route web/r: requestMirror 'ghost' is not a service", "route web/r: allowFrom 'nobody' is not a service"], error.Errors);
        Assert.Equal(1, proxy.Host.Config.Version);
    }

    [Fact]
    public async Task Update_PatternTheEngineRefuses_IsRefusedWithTheRoute()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        // A backreference: the non-backtracking engine (like RE2) has none.
        var broken = service with
        {
            Rules = [Route("r") with { Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.RegularExpression, @"/(a)\1") }] }],
        };

        var error = Assert.Throws<ProxyConfigException>(() => proxy.Host.Config.Update([broken]));

        Assert.StartsWith("route web/r: ", Assert.Single(error.Errors));
    }

    [Fact]
    public async Task Update_TwoServicesAtOneAddress_IsRefused()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);

        var error = Assert.Throws<ProxyConfigException>(() => proxy.Host.Config.Update([service, service with { Name = "other" }]));

        Assert.Equal(["services[other]: 127.77.0.1:8080 is already the address of another service"], error.Errors);
    }
}
