using System.Diagnostics;
using System.Globalization;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests;

/// <summary>
/// Every default that README.md and config/examples/*.yaml document for HTTP policy and the proxy section, asserted
/// once against a running proxy given a file that leaves the key out: by behaviour where a request shows it, else on
/// the running proxy's compiled routes or Kestrel's options. The file goes through the YAML loader, as the agent's does.
/// </summary>
public sealed class DocumentedDefaultsTests
{
    private static readonly MeshConfigLoader Loader = new();

    [Fact]
    public async Task Rules_KeysLeftOut_PathPrefixExactHeadersAllowDefaultAndTheServicesOwnEndpoints()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync(WebRules(upstream, """
              - name: block
                matches: [{ path: { value: /admin } }, { headers: [{ name: x-user, value: "a.c" }] }]
                action: deny
              - name: open
                matches: [{ path: { value: /open } }]
            """));
        await using var _ = proxy;
        var web = config.Services[0];

        using var admin = await proxy.GetAsync(web, "/admin/users");      // type: PathPrefix
        using var adminx = await proxy.GetAsync(web, "/administrator");   // ... by whole segments
        using var exact = await proxy.SendAsync(web, HttpMethod.Get, "/x", r => r.Headers.Add("x-user", "a.c"));
        using var notRegex = await proxy.SendAsync(web, HttpMethod.Get, "/x", r => r.Headers.Add("x-user", "abc"));   // type: Exact
        using var open = await proxy.GetAsync(web, "/open");               // action: allow, no backendRefs: own endpoints

        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
        Assert.Equal("denied by route block", Assert.Single(admin.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(HttpStatusCode.OK, adminx.StatusCode);               // default: allow
        Assert.Equal(HttpStatusCode.Forbidden, exact.StatusCode);
        Assert.Equal(HttpStatusCode.OK, notRegex.StatusCode);
        Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        Assert.Equal(3, upstream.Hits);
        Assert.All(upstream.Requests, r => Assert.Equal("HTTP/1.1", r.Protocol));   // protocol: http1
    }

    [Fact]
    public async Task Service_NoEndpoints_ForwardsToItsOwnAddressAndPort()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync($$"""
            services:
              - { name: web, address: 127.0.0.1, port: {{upstream.EndPoint.Port}}, rules: [{ name: all }] }
            """);
        await using var _ = proxy;

        using var response = await proxy.GetAsync(config.Services[0], "/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task BackendRef_NoWeight_TakesAllTheRequests()
    {
        await using var v1 = await TestUpstream.StartAsync();
        await using var v2 = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync($$"""
            services:
              - { name: web, address: 127.77.0.1, port: 8080, endpoints: [{{v1.EndPoint}}], rules: [{ name: pinned, backendRefs: [{ name: v2 }] }] }
              - { name: v2, address: 127.77.0.2, port: 8080, endpoints: [{{v2.EndPoint}}] }
            """);
        await using var _ = proxy;

        for (var i = 0; i < 5; i++)
        {
            using var response = await proxy.GetAsync(config.Services[0], "/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal((0, 5), (v1.Hits, v2.Hits));
    }

    [Fact]
    public async Task Retry_Empty_TwoRetriesOfIdempotentRequestsOn502And504ButNot503()
    {
        await using var upstream = await TestUpstream.StartAsync((c, _) =>
        {
            c.Response.StatusCode = int.Parse(c.Request.Query["status"]!, CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        });
        var (proxy, config) = await StartAsync(Web(upstream, "retry: {}"));
        await using var _ = proxy;
        var web = config.Services[0];

        async Task<int> HitsOf(HttpMethod method, int status)
        {
            var before = upstream.Hits;
            using var response = await proxy.SendAsync(web, method, $"/?status={status}");
            Assert.Equal(status, (int)response.StatusCode);
            return upstream.Hits - before;
        }

        Assert.Equal(3, await HitsOf(HttpMethod.Get, 502));     // attempts: 2
        Assert.Equal(3, await HitsOf(HttpMethod.Get, 504));     // codes: [502, 504]
        Assert.Equal(1, await HitsOf(HttpMethod.Get, 503));
        Assert.Equal(1, await HitsOf(HttpMethod.Post, 502));    // retryNonIdempotent: false
        Assert.Equal(3, await HitsOf(HttpMethod.Put, 502));
    }

    [Fact]
    public async Task Retry_Empty_RetriesAConnectionThatCouldNotBeMade()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync($$"""
            services:
              - { name: web, address: 127.77.0.1, port: 8080, endpoints: [{{ClosedPort()}}, {{upstream.EndPoint}}], rules: [{ name: all, retry: {} }] }
            """);
        await using var _ = proxy;

        for (var i = 0; i < 10; i++)
        {
            using var response = await proxy.GetAsync(config.Services[0], "/");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(10, upstream.Hits);
    }

    [Fact]
    public async Task Retry_Empty_KeepsBodiesUpTo64KiBAndBacksOff25msUpTo250msWithin20PercentOfRequests()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502);
        var (proxy, config) = await StartAsync(Web(upstream, "retry: {}"));
        await using var _ = proxy;
        var web = config.Services[0];

        using var fits = await proxy.SendAsync(web, HttpMethod.Put, "/", r => r.Content = new ByteArrayContent(new byte[64 * 1024]));
        var hitsOfFits = upstream.Hits;
        using var tooLarge = await proxy.SendAsync(web, HttpMethod.Put, "/", r => r.Content = new ByteArrayContent(new byte[(64 * 1024) + 1]));

        Assert.Equal(3, hitsOfFits);                              // maxBodyBytes: 65536
        Assert.Equal(4, upstream.Hits);
        var retry = Route(proxy, web).Model.Retry!;
        Assert.Equal((TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(250)), (retry.Backoff, retry.MaxBackoff));
        Assert.Equal(20, retry.BudgetPercent);
        Assert.NotNull(Route(proxy, web).RetryBudget);
    }

    [Fact]
    public async Task CircuitBreaker_Empty_OpensAfterFiveFailuresInARowForThirtySeconds()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(500);
        var (proxy, config) = await StartAsync(Web(upstream, "circuitBreaker: {}"));
        await using var _ = proxy;
        var web = config.Services[0];

        var statuses = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await proxy.GetAsync(web, "/");
            statuses.Add((int)response.StatusCode);
        }

        Assert.Equal([500, 500, 500, 500, 500, 503], statuses);   // consecutiveFailures: 5
        Assert.Equal(5, upstream.Hits);
        var breaker = Route(proxy, web).Model.CircuitBreaker!;
        Assert.Equal(TimeSpan.FromSeconds(30), breaker.BreakDuration);
        Assert.Null(breaker.FailureRatio);
        Assert.Equal(100, breaker.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(10), breaker.SamplingDuration);
    }

    [Fact]
    public async Task RateLimit_RateOnly_BurstOfOneSecondsWorthSharedByEveryClient()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync(Web(upstream, "rateLimit: { requestsPerSecond: 5 }"));
        await using var _ = proxy;
        var web = config.Services[0];
        using var other = proxy.CreateClient(IPAddress.Parse("127.0.0.2"));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await proxy.GetAsync(web, "/");
            statuses.Add(response.StatusCode);
        }
        using var fromOther = await proxy.SendAsync(web, HttpMethod.Get, "/", client: other);   // perSource: off

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), HttpStatusCode.TooManyRequests], statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, fromOther.StatusCode);
    }

    [Fact]
    public async Task Fault_NoPercent_DelaysAndAbortsEveryRequest()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync(Web(upstream, "fault: { delay: { fixedDelay: 100ms }, abort: { httpStatus: 503 } }"));
        await using var _ = proxy;

        for (var i = 0; i < 5; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await proxy.GetAsync(config.Services[0], "/");
            Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(100));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("abort", Assert.Single(response.Headers.GetValues(MeshHeaders.Fault)));
        }

        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Redirect_KeysLeftOut_Found302WithTheRequestsSchemePortAndPath()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync(WebRules(upstream, """
              - name: host
                matches: [{ path: { value: /host } }]
                filters: [{ type: RequestRedirect, requestRedirect: { hostname: shop.example.com } }]
              - name: same-scheme
                matches: [{ path: { value: /same } }]
                filters: [{ type: RequestRedirect, requestRedirect: { scheme: http } }]
              - name: new-scheme
                matches: [{ path: { value: /new } }]
                filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]
            """));
        await using var _ = proxy;
        var web = config.Services[0];

        using var host = await proxy.GetAsync(web, "/host/a?q=1");
        using var same = await proxy.GetAsync(web, "/same");
        using var changed = await proxy.GetAsync(web, "/new");

        Assert.Equal(HttpStatusCode.Found, host.StatusCode);
        Assert.Equal("http://shop.example.com:8080/host/a?q=1", host.Headers.Location?.OriginalString);
        // The scheme's usual port only when the scheme changes.
        Assert.Equal("http://127.77.0.1:8080/same", same.Headers.Location?.OriginalString);
        Assert.Equal("https://127.77.0.1/new", changed.Headers.Location?.OriginalString);
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Mirror_NoPercent_CopiesEveryRequest()
    {
        await using var upstream = await TestUpstream.StartAsync();
        await using var shadow = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync($$"""
            services:
              - name: web
                address: 127.77.0.1
                port: 8080
                endpoints: [{{upstream.EndPoint}}]
                rules: [{ name: all, filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow } } }] }]
              - { name: shadow, address: 127.77.0.2, port: 8080, endpoints: [{{shadow.EndPoint}}] }
            """);
        await using var _ = proxy;

        for (var i = 0; i < 10; i++)
        {
            using var response = await proxy.GetAsync(config.Services[0], "/");
        }
        var deadline = Stopwatch.GetTimestamp();
        while (shadow.Hits < 10 && Stopwatch.GetElapsedTime(deadline) < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }

        Assert.Equal((10, 10), (upstream.Hits, shadow.Hits));
    }

    [Fact]
    public async Task Rule_NoTimeoutsRetryOrBreaker_HasNoResiliencePipeline()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, config) = await StartAsync(Web(upstream, "matches: [{ path: { value: / } }]"));
        await using var _ = proxy;

        var route = Route(proxy, config.Services[0]);

        Assert.False(route.HasResilience);
        Assert.Null(route.RetryBudget);
    }

    [Fact]
    public async Task Proxy_NoSection_KestrelHasTheDocumentedLimits()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var (proxy, _) = await StartAsync(Web(upstream, "matches: [{ path: { value: / } }]"));
        await using var running = proxy;

        var limits = proxy.Host.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;

        Assert.Equal(32 * 1024, limits.MaxRequestHeadersTotalSize);
        Assert.Equal(100, limits.MaxRequestHeaderCount);
        Assert.Null(limits.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(10), limits.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), limits.KeepAliveTimeout);
        Assert.Equal(100, limits.Http2.MaxStreamsPerConnection);
    }

    /// <summary>The service web at 127.77.0.1:8080 with one rule 'all' holding <paramref name="rule"/>.</summary>
    private static string Web(TestUpstream upstream, string rule) => $$"""
        services:
          - { name: web, address: 127.77.0.1, port: 8080, endpoints: [{{upstream.EndPoint}}], rules: [{ name: all, {{rule}} }] }
        """;

    /// <summary>The service web at 127.77.0.1:8080 with the rules of <paramref name="rules"/>, a YAML list.</summary>
    private static string WebRules(TestUpstream upstream, string rules) => $$"""
        services:
          - name: web
            address: 127.77.0.1
            port: 8080
            endpoints: [{{upstream.EndPoint}}]
            rules:
        """ + "\n" + string.Join('\n', rules.Split('\n').Select(line => "    " + line));

    private static async Task<(TestProxy Proxy, MeshConfig Config)> StartAsync(string yaml)
    {
        var result = Loader.Parse(yaml, "mesh.yaml");
        Assert.Empty(result.Errors);
        var config = result.Config!;
        return (await TestProxy.StartAsync(config.Services, resolver: null, limits: config.Proxy), config);
    }

    /// <summary>The running proxy's compiled first rule of a service.</summary>
    private static CompiledRoute Route(TestProxy proxy, ServiceConfig service) =>
        proxy.Host.Config.Snapshot.ByAddress[service.EndPoint].Routes[0];
}
