using System.Net;
using System.Text.RegularExpressions;
using Mesh.Agent.L7;
using Mesh.Proxy.Configuration;
using Mesh.Datapath.Maps;
using static Mesh.Agent.Tests.L7.MapperRuns;

namespace Mesh.Agent.Tests.L7;

/// <summary>Services, rules, matches and filters: what the proxy gets for each, and what it does not get.</summary>
public class ProxyModelMapperTests
{
    [Theory]
    [InlineData("", UpstreamProtocol.Http1)]
    [InlineData("    protocol: http1\n", UpstreamProtocol.Http1)]
    [InlineData("    protocol: h2c\n", UpstreamProtocol.H2c)]
    public void Map_ServiceProtocol_ReachesProxy(string protocolLine, UpstreamProtocol expected)
    {
        var mapping = Map("services:\n  - name: grpc\n    address: 127.0.0.10\n    port: 8080\n" + protocolLine + "    default: deny\n");

        Assert.Equal(expected, Assert.Single(mapping.Services).Protocol);
    }

    [Fact]
    public void Map_PolicedService_MapsAddressEndpointsAndDefault()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                endpoints: [127.0.0.1:9001, "[::1]:9002"]
                default: deny
            """);

        var web = Assert.Single(mapping.Services);
        Assert.Equal("web", web.Name);
        Assert.Equal(IPEndPoint.Parse("127.0.0.10:8080"), web.Address);
        Assert.Equal([IPEndPoint.Parse("127.0.0.1:9001"), IPEndPoint.Parse("[::1]:9002")], web.Endpoints);
        Assert.Equal(UpstreamProtocol.Http1, web.Protocol);
        Assert.Equal(ProxyAction.Deny, web.Default);
        Assert.Empty(web.Routes);
        Assert.Empty(web.SourceCidrs);
        Assert.Null(web.Authorization);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_ServiceWithoutPolicyNotReferenced_IsLeftOut()
    {
        var mapping = Map("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, rules: [{ name: r }] }
              - { name: other, address: 127.0.0.11, port: 8080, source: { cidrs: [10.0.0.0/8] } }
            """);

        Assert.Equal(["web"], mapping.Services.Select(s => s.Name));
    }

    [Fact]
    public void Map_ServiceReferencedByBackendMirrorOrAllowFrom_IsIncludedWithoutRoutes()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow } } }]
                    backendRefs: [{ name: v2 }]
                    authorization: { allowFrom: [client] }
              - { name: v2, address: 127.0.0.21, port: 8080, endpoints: [127.0.0.1:9201] }
              - { name: shadow, address: 127.0.0.22, port: 8080 }
              - { name: client, address: 127.0.0.23, port: 80, source: { cidrs: [127.0.0.23/32] } }
              - { name: unrelated, address: 127.0.0.24, port: 80 }
            """);

        Assert.Equal(["web", "v2", "shadow", "client"], mapping.Services.Select(s => s.Name));
        var v2 = mapping.Service("v2");
        Assert.Equal(IPEndPoint.Parse("127.0.0.21:8080"), v2.Address);
        Assert.Equal([IPEndPoint.Parse("127.0.0.1:9201")], v2.Endpoints);
        Assert.Equal(ProxyAction.Allow, v2.Default);
        Assert.All(mapping.Services.Skip(1), s => Assert.Empty(s.Routes));
        // A service without endpoints in the file is its own endpoint.
        Assert.Equal([IPEndPoint.Parse("127.0.0.22:8080")], mapping.Service("shadow").Endpoints);
        Assert.Equal([IPNetwork.Parse("127.0.0.23/32")], mapping.Service("client").SourceCidrs);
    }

    [Fact]
    public void DivertedServices_MixedServices_ReturnsEndPointsOfServicesWithPolicyAndTheirFailModes()
    {
        var config = Load("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, failMode: open, rules: [{ name: r, backendRefs: [{ name: v2 }] }] }
              - { name: v2, address: 127.0.0.21, port: 8080 }
              - { name: locked, address: "fd00::5", port: 443, default: deny }
            """);

        var diverted = new ProxyModelMapper().DivertedServices(config);

        Assert.Equal([new DivertedService(IPEndPoint.Parse("127.0.0.10:8080"), FailOpen: true), new DivertedService(IPEndPoint.Parse("[fd00::5]:443"), FailOpen: false)], diverted);
    }

    [Fact]
    public void Map_Matches_MapsEveryCondition()
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    matches:
                      - path: { type: PathPrefix, value: /api }
                        method: POST
                        headers: [{ name: x-env, value: canary }, { name: x-id, value: '[0-9]+', type: RegularExpression }]
                        queryParams: [{ name: debug, value: "1" }, { name: v, value: 'a|b', type: RegularExpression }]
                      - path: { type: Exact, value: /healthz }
                      - path: { type: RegularExpression, value: '/items/[0-9]+' }
            """).Only();

        Assert.Equal(
        [
            new RouteMatch
            {
                Path = new PathMatch(PathMatchType.PathPrefix, "/api"),
                Method = "POST",
                Headers = [new HeaderMatch("x-env", "canary"), new HeaderMatch("x-id", @"(?:[0-9]+)\z", StringMatchType.RegularExpression)],
                QueryParams = [new QueryParamMatch("debug", "1"), new QueryParamMatch("v", @"(?:a|b)\z", StringMatchType.RegularExpression)],
            },
            new RouteMatch { Path = new PathMatch(PathMatchType.Exact, "/healthz") },
            new RouteMatch { Path = new PathMatch(PathMatchType.RegularExpression, @"(?:/items/[0-9]+)\z") },
        ], route.Matches, MatchComparer);
    }

    [Fact]
    public void Map_RuleWithoutMatches_MatchesEveryPath()
    {
        var route = Map("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, rules: [{ name: r }] }
            """).Only();

        var match = Assert.Single(route.Matches);
        Assert.Equal(new PathMatch(PathMatchType.PathPrefix, "/"), match.Path);
        Assert.Null(match.Method);
    }

    [Theory]
    [InlineData("/admin", true)]
    [InlineData("/admin\n", false)]
    [InlineData("/admin/x", false)]
    public void Map_RegularExpressionPath_MatchesWholePathAsTheConfigDoes(string path, bool matches)
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, matches: [{ path: { type: RegularExpression, value: /admin } }] }]
            """).Only();

        // As the proxy compiles it (Mesh.Proxy's RouteRegex), and as the config defines it (Mesh.Config's).
        var proxy = new Regex($"^(?:{route.Matches[0].Path!.Value})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking | RegexOptions.ExplicitCapture);
        Assert.Equal(matches, proxy.IsMatch(path));
        Assert.Equal(matches, Mesh.Config.RouteRegex.Create("/admin").IsMatch(path));
    }

    [Fact]
    public void Map_DenyRule_MapsActionAndReason()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - { name: r, matches: [{ path: { value: /admin } }], action: deny, denyReason: admin is internal }
                  - { name: quiet, action: deny }
            """);

        var route = mapping.Only();
        Assert.Equal(ProxyAction.Deny, route.Action);
        Assert.Equal("admin is internal", route.DenyReason);
        Assert.Empty(route.Backends);
        Assert.Null(route.RequestHeaders);
        Assert.Null(route.Retry);
        // The proxy then sends its own reason; the config would send none (not expressible).
        Assert.Null(mapping.Route("web", "quiet").DenyReason);
    }

    [Fact]
    public void Map_UnnamedRules_GetUniqueNamesAfterTheirIndex()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - matches: [{ path: { value: /a } }]
                  - { name: rule-0, matches: [{ path: { value: /b } }] }
                  - matches: [{ path: { value: /c } }]
            """);

        Assert.Equal(["rule-0-2", "rule-0", "rule-2"], mapping.Service("web").Routes.Select(r => r.Name));
    }

    [Fact]
    public void Map_HeaderModifiers_MapsSetAddRemove()
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    filters:
                      - type: RequestHeaderModifier
                        requestHeaderModifier: { set: [{ name: x-a, value: "1" }], add: [{ name: x-b, value: "2" }], remove: [x-c] }
                      - type: ResponseHeaderModifier
                        responseHeaderModifier: { remove: [server, x-powered-by] }
            """).Only();

        Assert.Equal([new HttpHeader("x-a", "1")], route.RequestHeaders!.Set);
        Assert.Equal([new HttpHeader("x-b", "2")], route.RequestHeaders.Add);
        Assert.Equal(["x-c"], route.RequestHeaders.Remove);
        Assert.Empty(route.ResponseHeaders!.Set);
        Assert.Empty(route.ResponseHeaders.Add);
        Assert.Equal(["server", "x-powered-by"], route.ResponseHeaders.Remove);
    }

    [Fact]
    public void Map_HeaderRemovedAndWritten_KeepsTheConfigsRemoveFirstOrder()
    {
        // The config removes first, then sets and adds; the proxy removes last.
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    filters:
                      - type: RequestHeaderModifier
                        requestHeaderModifier:
                          set: [{ name: x-set, value: s }]
                          add: [{ name: X-Added, value: a }, { name: x-kept, value: k }]
                          remove: [X-SET, x-added, x-gone]
            """).Only();

        Assert.Equal([new HttpHeader("x-set", "s"), new HttpHeader("X-Added", "a")], route.RequestHeaders!.Set);
        Assert.Equal([new HttpHeader("x-kept", "k")], route.RequestHeaders.Add);
        Assert.Equal(["x-gone"], route.RequestHeaders.Remove);
    }

    [Fact]
    public void Map_UrlRewrite_MapsHostnameAndPath()
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    matches: [{ path: { type: PathPrefix, value: /api/v1 } }]
                    filters:
                      - type: URLRewrite
                        urlRewrite: { hostname: web.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /api/v2 } }
            """).Only();

        Assert.Equal(new UrlRewrite { Hostname = "web.internal", Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/api/v2") }, route.Rewrite);
        Assert.Null(route.Redirect);
        Assert.Equal([new BackendRef("web")], route.Backends);
    }

    [Fact]
    public void Map_RequestRedirect_MapsEveryPartAndNoBackends()
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    filters:
                      - type: RequestRedirect
                        requestRedirect: { scheme: https, hostname: shop.example.com, port: 8443, path: { type: ReplaceFullPath, replaceFullPath: /shop }, statusCode: 308 }
            """).Only();

        Assert.Equal(new RequestRedirect
        {
            Scheme = "https",
            Hostname = "shop.example.com",
            Port = 8443,
            Path = new PathModifier(PathModifierType.ReplaceFullPath, "/shop"),
            StatusCode = 308,
        }, route.Redirect);
        Assert.Empty(route.Backends);
    }

    [Fact]
    public void Map_RequestRedirectDefaults_KeepsRequestPartsAndFound()
    {
        var route = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, filters: [{ type: RequestRedirect, requestRedirect: { hostname: b.example.com } }] }]
            """).Only();

        Assert.Equal(new RequestRedirect { Hostname = "b.example.com", StatusCode = 302 }, route.Redirect);
    }

    [Fact]
    public void Map_RequestMirror_MapsServiceAndPercent()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow }, percent: 12.5 } }] }]
              - { name: shadow, address: 127.0.0.22, port: 8080 }
            """);

        Assert.Equal([new RequestMirror { Service = "shadow", Percent = 12.5 }], mapping.Only().Mirrors);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_TwoMirrors_MapsBothInOrder()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - name: r
                    filters:
                      - { type: RequestMirror, requestMirror: { backendRef: { name: shadow } } }
                      - { type: RequestMirror, requestMirror: { backendRef: { name: audit } } }
              - { name: shadow, address: 127.0.0.22, port: 8080 }
              - { name: audit, address: 127.0.0.23, port: 8080 }
            """);

        Assert.Equal([new RequestMirror { Service = "shadow" }, new RequestMirror { Service = "audit" }], mapping.Only().Mirrors);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_WeightedBackends_MapsWeights()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, backendRefs: [{ name: v1, weight: 80 }, { name: v2, weight: 20 }, { name: v3, weight: 0 }] }]
              - { name: v1, address: 127.0.0.21, port: 8080 }
              - { name: v2, address: 127.0.0.22, port: 8080 }
              - { name: v3, address: 127.0.0.23, port: 8080 }
            """);

        Assert.Equal([new BackendRef("v1", 80), new BackendRef("v2", 20), new BackendRef("v3", 0)], mapping.Only().Backends);
    }

    [Fact]
    public void Map_RuleWithoutBackends_ForwardsToItsOwnService()
    {
        var route = Map("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, rules: [{ name: r }] }
            """).Only();

        Assert.Equal([new BackendRef("web", 1)], route.Backends);
        Assert.Equal(ProxyAction.Allow, route.Action);
        Assert.Null(route.Timeouts);
        Assert.Null(route.Retry);
        Assert.Null(route.CircuitBreaker);
        Assert.Null(route.RateLimit);
        Assert.Null(route.Fault);
        Assert.Null(route.Authorization);
        Assert.Empty(route.Mirrors);
    }

    private static readonly IEqualityComparer<RouteMatch> MatchComparer = EqualityComparer<RouteMatch>.Create((a, b) =>
        a is not null && b is not null && Equals(a.Path, b.Path) && a.Method == b.Method
        && a.Headers.SequenceEqual(b.Headers) && a.QueryParams.SequenceEqual(b.QueryParams));
}
