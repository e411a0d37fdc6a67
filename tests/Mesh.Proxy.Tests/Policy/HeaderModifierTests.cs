using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Policy;

public sealed class HeaderModifierTests
{
    [Fact]
    public async Task RequestHeaderModifier_SetAddRemove_UpstreamSeesTheChanges()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("all") with
        {
            Filters =
            [
                new RequestHeaderModifierFilter(new HeaderModifier
                {
                    Set = [new HttpHeader("x-env", "canary"), new HttpHeader("Content-Type", "application/x-mesh")],
                    Add = [new HttpHeader("x-tags", "mesh")],
                    Remove = ["x-secret"],
                }),
            ],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/", r =>
        {
            r.Headers.Add("x-env", "prod");
            r.Headers.Add("x-tags", "client");
            r.Headers.Add("x-secret", "s3cr3t");
            r.Content = new StringContent("body");
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var headers = upstream.Last.Headers;
        Assert.Equal("canary", headers["x-env"]);
        Assert.Equal("application/x-mesh", headers["Content-Type"]);
        Assert.Equal("client,mesh", headers["x-tags"].Replace(" ", ""));
        Assert.False(headers.ContainsKey("x-secret"));
        Assert.Equal("127.0.0.1", headers["X-Forwarded-For"]);
        Assert.Equal("body", System.Text.Encoding.UTF8.GetString(upstream.Last.Body));
    }

    [Fact]
    public async Task ResponseHeaderModifier_SetAddRemove_ClientSeesTheChanges()
    {
        await using var upstream = await TestUpstream.StartAsync((context, _) =>
        {
            context.Response.Headers["x-version"] = "upstream";
            context.Response.Headers["x-internal"] = "leak";
            return context.Response.WriteAsync("ok");
        });
        var route = Route("all") with
        {
            Filters =
            [
                new ResponseHeaderModifierFilter(new HeaderModifier
                {
                    Set = [new HttpHeader("x-version", "mesh")],
                    Add = [new HttpHeader("x-served-by", "mesh-proxy")],
                    Remove = ["x-internal"],
                }),
            ],
        };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal("mesh", Assert.Single(response.Headers.GetValues("x-version")));
        Assert.Equal("mesh-proxy", Assert.Single(response.Headers.GetValues("x-served-by")));
        Assert.False(response.Headers.Contains("x-internal"));
    }

    [Fact]
    public async Task HeaderModifier_HeaderRemovedAndWritten_RemovesFirstThenSetsAndAdds()
    {
        // Remove, then set, then add (config/examples/l7-deny-and-headers.yaml): a header both removed and written
        // keeps what the modifier writes, and loses what it had.
        await using var upstream = await TestUpstream.StartAsync((context, _) =>
        {
            context.Response.Headers["x-trace"] = "upstream";
            return context.Response.WriteAsync("ok");
        });
        var modifier = new HeaderModifier
        {
            Set = [new HttpHeader("x-env", "mesh")],
            Add = [new HttpHeader("x-trace", "mesh")],
            Remove = ["x-env", "x-trace"],
        };
        var route = Route("all") with { Filters = [new RequestHeaderModifierFilter(modifier), new ResponseHeaderModifierFilter(modifier)] };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", r =>
        {
            r.Headers.Add("x-env", "prod");
            r.Headers.Add("x-trace", "client");
        });

        Assert.Equal("mesh", upstream.Last.Headers["x-env"]);
        Assert.Equal("mesh", upstream.Last.Headers["x-trace"]);
        Assert.Equal("mesh", Assert.Single(response.Headers.GetValues("x-trace")));
    }
}
