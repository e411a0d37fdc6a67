using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Routing;

public sealed class RouteMatchingTests
{
    private static HttpRouteRule Tagging(string name, RouteMatch match) => new()
    {
        Name = name,
        Matches = [match],
        Filters = [new RequestHeaderModifierFilter(new HeaderModifier { Set = [new HttpHeader("x-route", name)] })],
    };

    [Fact]
    public async Task Route_SeveralMatch_FirstInWrittenOrderWins()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream,
            Tagging("broad", new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, "/api") }),
            Tagging("specific", new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, "/api/v1") }));
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/api/v1/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("broad", upstream.Last.Headers["x-route"]);
    }

    [Theory]
    [InlineData("/api", HttpStatusCode.OK)]
    [InlineData("/api/", HttpStatusCode.OK)]
    [InlineData("/api/x/y", HttpStatusCode.OK)]
    [InlineData("/apix", HttpStatusCode.Forbidden)]
    [InlineData("/API/x", HttpStatusCode.Forbidden)]
    public async Task PathPrefix_Path_MatchesWholeCaseSensitiveSegmentsOnly(string path, HttpStatusCode expected)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("api", "/api/")) with { Default = RouteAction.Deny };
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, path);

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/exact", "u42", "debug=1", HttpStatusCode.OK)]
    [InlineData("POST", "/exact", "u42", "debug=1", HttpStatusCode.Forbidden)]
    [InlineData("GET", "/exact/", "u42", "debug=1", HttpStatusCode.Forbidden)]
    [InlineData("GET", "/exact", "admin", "debug=1", HttpStatusCode.Forbidden)]
    [InlineData("GET", "/exact", "u42", "debug=2", HttpStatusCode.Forbidden)]
    [InlineData("GET", "/exact", "u42", "x=1&debug=0&debug=1", HttpStatusCode.OK)]
    public async Task Match_MethodExactPathHeaderRegexAndQuery_AllMustHold(
        string method, string path, string user, string query, HttpStatusCode expected)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = new HttpRouteRule
        {
            Name = "strict",
            Matches =
            [
                new RouteMatch
                {
                    Method = "GET",
                    Path = new PathMatch(PathMatchType.Exact, "/exact"),
                    Headers = [new HeaderMatch("X-User", "u[0-9]+") { Type = StringMatchType.RegularExpression }],
                    QueryParams = [new QueryParamMatch("debug", "1")],
                },
            ],
        };
        var service = Service("web", 1, upstream, route) with { Default = RouteAction.Deny };
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.SendAsync(service, new HttpMethod(method), $"{path}?{query}",
            r => r.Headers.Add("x-user", user));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(expected == HttpStatusCode.OK ? 1 : 0, upstream.Hits);
    }

    [Fact]
    public async Task Match_RegularExpressionPath_MatchesTheWholePath()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = new HttpRouteRule
        {
            Name = "items",
            Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.RegularExpression, "/items/[0-9]+") }],
        };
        var service = Service("web", 1, upstream, route) with { Default = RouteAction.Deny };
        await using var proxy = await TestProxy.StartAsync(service);

        using var matched = await proxy.GetAsync(service, "/items/123");
        using var partial = await proxy.GetAsync(service, "/items/123/extra");
        // Anchored with \z, not $: a path ending in a line feed (%0A, which ASP.NET Core decodes) is not the whole match.
        using var lineFeed = await proxy.GetAsync(service, "/items/123%0A");

        Assert.Equal(HttpStatusCode.OK, matched.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, partial.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, lineFeed.StatusCode);
    }

    [Fact]
    public async Task Routes_TwoServicesSamePath_AreScopedToTheOriginalDestination()
    {
        await using var upstreamA = await TestUpstream.StartAsync();
        await using var upstreamB = await TestUpstream.StartAsync();
        var a = Service("a", 1, upstreamA, Route("admin", "/admin") with { Action = RouteAction.Deny });
        var b = Service("b", 2, upstreamB, Route("admin", "/admin"));
        await using var proxy = await TestProxy.StartAsync(a, b);

        using var toA = await proxy.GetAsync(a, "/admin");
        using var toB = await proxy.GetAsync(b, "/admin");

        Assert.Equal(HttpStatusCode.Forbidden, toA.StatusCode);
        Assert.Equal(HttpStatusCode.OK, toB.StatusCode);
        Assert.Equal(0, upstreamA.Hits);
        Assert.Equal(1, upstreamB.Hits);
    }

    [Fact]
    public async Task Request_NoRouteMatchesAndDefaultDeny_Gets403WithReason()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("api", "/api")) with { Default = RouteAction.Deny };
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/other");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("no route matched", Assert.Single(response.Headers.GetValues(MeshHeaders.DenyReason)));
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Request_NoRouteMatchesAndDefaultAllow_IsForwardedToTheService()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("api", "/api") with { Action = RouteAction.Deny });
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/other?x=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
        Assert.Equal("/other?x=1", upstream.Last.PathAndQuery);
        Assert.Equal(service.EndPoint.ToString(), upstream.Last.Headers["Host"]);
    }

    [Fact]
    public async Task Request_UnknownOriginalDestination_Gets503()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service with { Address = Address(99).Address }, "/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unknown-destination", Assert.Single(response.Headers.GetValues(MeshHeaders.Error)));
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Request_ServiceWithoutEndpoints_Gets503()
    {
        var service = Service("empty", 1, upstream: null);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }
}
