using System.Net;
using Mesh.Config;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class RewriteAndRedirectTests
{
    [Fact]
    public async Task UrlRewrite_ReplacePrefixMatchAndHostname_UpstreamSeesRewrittenRequest()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("api", "/api") with
        {
            Filters =
            [
                new UrlRewriteFilter
                {
                    Hostname = "backend.internal",
                    Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/internal"),
                },
            ],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/api/v1/items?q=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/internal/v1/items?q=1", upstream.Last.PathAndQuery);
        Assert.Equal("backend.internal", upstream.Last.Headers["Host"]);
    }

    [Fact]
    public async Task UrlRewrite_ReplaceFullPath_UpstreamSeesTheNewPath()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("legacy", "/old") with
        {
            Filters = [new UrlRewriteFilter { Path = new PathModifier(PathModifierType.ReplaceFullPath, "/new/home") }],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/old/anything?a=b");

        Assert.Equal("/new/home?a=b", upstream.Last.PathAndQuery);
        Assert.Equal(service.EndPoint.ToString(), upstream.Last.Headers["Host"]);
    }

    [Fact]
    public async Task Redirect_SchemeAndHostname_Returns301WithLocationAndNeverReachesUpstream()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("secure", "/login") with
        {
            Filters = [new RequestRedirectFilter { Scheme = "https", Hostname = "login.example.com", StatusCode = 301 }],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/login/form?next=%2Fhome");

        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal("https://login.example.com/login/form?next=%2Fhome", response.Headers.Location?.OriginalString);
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Redirect_PrefixPathWithoutScheme_KeepsTheServicePort()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("moved", "/v1") with
        {
            Filters = [new RequestRedirectFilter { Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/v2") }],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/v1/users/7");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("http://127.77.0.1:8080/v2/users/7", response.Headers.Location?.OriginalString);
        Assert.Equal(0, upstream.Hits);
    }

    [Theory]
    [InlineData("/api/x", "/api", "/v2", "/v2/x")]
    [InlineData("/api", "/api", "/v2", "/v2")]
    [InlineData("/api/x", "/api", "/", "/x")]
    [InlineData("/api", "/api", "/", "/")]
    [InlineData("/api/x", "/api", "/v2/", "/v2/x")]
    [InlineData("/x/y", "", "/root", "/root/x/y")]
    public void PathRewriter_ReplacePrefixMatch_FollowsGatewayApi(string path, string prefix, string replacement, string expected)
    {
        var result = PathRewriter.Apply(path, new PathModifier(PathModifierType.ReplacePrefixMatch, replacement), prefix);

        Assert.Equal(expected, result);
    }
}
