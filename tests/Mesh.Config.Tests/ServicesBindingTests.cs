using System.Net;
using Mesh.Testing;
using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The <c>services</c> section read into the model: every key, and the defaults of every key left out.</summary>
public class ServicesBindingTests
{
    [Fact]
    public void Parse_EveryServiceKeySet_ReturnsExpectedModel()
    {
        var config = Valid("""
            services:
              - name: catalog
                address: 127.0.0.10
                port: 8080
                endpoints: [127.0.0.1:9001, "[::1]:9002"]
                failMode: open
                default: deny
                source: { cidrs: [127.0.0.0/8, "fd00::/64", 10.1.2.3], cgroup: /sys/fs/cgroup/catalog.slice }
                rules:
                  - name: admin-deny
                    matches:
                      - path: { type: PathPrefix, value: /admin }
                        method: GET
                        headers:
                          - { name: x-env, value: canary, type: Exact }
                          - { name: x-id, value: '[0-9]+', type: RegularExpression }
                        queryParams: [{ name: debug, value: "1" }, { name: trace, value: 'on|yes', type: RegularExpression }]
                      - path: { type: Exact, value: /internal }
                    action: deny
                    denyReason: admin is internal
                  - name: api
                    matches: [{ path: { type: RegularExpression, value: '/api/v[0-9]+/.*' } }]
                    filters:
                      - type: RequestHeaderModifier
                        requestHeaderModifier: { set: [{ name: x-a, value: b }], add: [{ name: x-b, value: c }], remove: [x-c, x-d] }
                      - type: ResponseHeaderModifier
                        responseHeaderModifier: { remove: [server] }
                      - type: URLRewrite
                        urlRewrite: { hostname: catalog.internal, path: { type: ReplaceFullPath, replaceFullPath: /v2 } }
                      - type: RequestMirror
                        requestMirror: { backendRef: { name: catalog-shadow, port: 8081 }, percent: 12.5 }
                      - type: RequestMirror
                        requestMirror: { backendRef: { name: catalog-v2 } }
                    backendRefs:
                      - { name: catalog-v1, weight: 80, port: 8080 }
                      - { name: catalog-v2, weight: 20 }
                    timeouts: { request: 5s, backendRequest: 1500ms }
                    retry: { attempts: 3, codes: [502, 503], backoff: 100ms, maxBackoff: 2s, retryNonIdempotent: true, maxBodyBytes: 1024, budgetPercent: 25 }
                    circuitBreaker: { consecutiveFailures: 7, failureRatio: 0.25, minimumThroughput: 10, samplingDuration: 1m30s, breakDuration: 45s }
                    rateLimit: { requestsPerSecond: 0.5, burst: 3, perSource: on }
                    fault: { delay: { fixedDelay: 1h, percent: 10 }, abort: { httpStatus: 418, percent: 0.5 } }
                    authorization: { allowFrom: [frontend, catalog] }
                  - name: moved
                    matches: [{ path: { type: PathPrefix, value: /old } }]
                    filters:
                      - type: RequestRedirect
                        requestRedirect:
                          scheme: https
                          hostname: shop.example.com
                          port: 8443
                          path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }
                          statusCode: 308
              - { name: catalog-v1, address: 127.0.0.21, port: 8080 }
              - { name: catalog-v2, address: "fd00::22", port: 8080, endpoints: ["[fd00::1]:9201"] }
              - { name: catalog-shadow, address: 127.0.0.23, port: 8081 }
              - { name: frontend, address: 127.0.0.30, port: 80, source: { cidrs: [127.0.0.30/32] } }
            """);

        var catalog = new ServiceConfig
        {
            Name = "catalog",
            Address = IPAddress.Parse("127.0.0.10"),
            Port = 8080,
            Endpoints = [IPEndPoint.Parse("127.0.0.1:9001"), IPEndPoint.Parse("[::1]:9002")],
            FailMode = FailMode.Open,
            Default = RouteAction.Deny,
            Source = new ServiceSource
            {
                Cidrs = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("fd00::/64"), IPNetwork.Parse("10.1.2.3/32")],
                Cgroup = "/sys/fs/cgroup/catalog.slice",
            },
            Rules =
            [
                new HttpRouteRule
                {
                    Name = "admin-deny",
                    Matches =
                    [
                        new RouteMatch
                        {
                            Path = new PathMatch(PathMatchType.PathPrefix, "/admin"),
                            Method = "GET",
                            Headers = [new HeaderMatch("x-env", "canary"), new HeaderMatch("x-id", "[0-9]+") { Type = StringMatchType.RegularExpression }],
                            QueryParams = [new QueryParamMatch("debug", "1"), new QueryParamMatch("trace", "on|yes") { Type = StringMatchType.RegularExpression }],
                        },
                        new RouteMatch { Path = new PathMatch(PathMatchType.Exact, "/internal") },
                    ],
                    Action = RouteAction.Deny,
                    DenyReason = "admin is internal",
                },
                new HttpRouteRule
                {
                    Name = "api",
                    Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.RegularExpression, "/api/v[0-9]+/.*") }],
                    Filters =
                    [
                        new RequestHeaderModifierFilter(new HeaderModifier
                        {
                            Set = [new HttpHeader("x-a", "b")],
                            Add = [new HttpHeader("x-b", "c")],
                            Remove = ["x-c", "x-d"],
                        }),
                        new ResponseHeaderModifierFilter(new HeaderModifier { Remove = ["server"] }),
                        new UrlRewriteFilter { Hostname = "catalog.internal", Path = new PathModifier(PathModifierType.ReplaceFullPath, "/v2") },
                        new RequestMirrorFilter("catalog-shadow") { Percent = 12.5 },
                        new RequestMirrorFilter("catalog-v2"),
                    ],
                    BackendRefs = [new BackendRef("catalog-v1", 80), new BackendRef("catalog-v2", 20)],
                    Timeouts = new RouteTimeouts { Request = TimeSpan.FromSeconds(5), BackendRequest = TimeSpan.FromMilliseconds(1500) },
                    Retry = new RetryPolicy
                    {
                        Attempts = 3,
                        Codes = [502, 503],
                        Backoff = TimeSpan.FromMilliseconds(100),
                        MaxBackoff = TimeSpan.FromSeconds(2),
                        RetryNonIdempotent = true,
                        MaxBodyBytes = 1024,
                        BudgetPercent = 25,
                    },
                    CircuitBreaker = new CircuitBreakerPolicy
                    {
                        ConsecutiveFailures = 7,
                        FailureRatio = 0.25,
                        MinimumThroughput = 10,
                        SamplingDuration = TimeSpan.FromSeconds(90),
                        BreakDuration = TimeSpan.FromSeconds(45),
                    },
                    RateLimit = new RateLimitPolicy { RequestsPerSecond = 0.5, Burst = 3, PerSource = true },
                    Fault = new FaultPolicy
                    {
                        Delay = new FaultDelay(TimeSpan.FromHours(1)) { Percent = 10 },
                        Abort = new FaultAbort(418) { Percent = 0.5 },
                    },
                    Authorization = new AuthorizationPolicy { AllowFrom = ["frontend", "catalog"] },
                },
                new HttpRouteRule
                {
                    Name = "moved",
                    Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, "/old") }],
                    Filters =
                    [
                        new RequestRedirectFilter
                        {
                            Scheme = "https",
                            Hostname = "shop.example.com",
                            Port = 8443,
                            Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/new"),
                            StatusCode = 308,
                        },
                    ],
                },
            ],
        };
        Assert.Equal(5, config.Services.Count);
        Assert.Equal(catalog, config.Services[0]);
        Assert.Equal(
            new ServiceConfig { Name = "catalog-v2", Address = IPAddress.Parse("fd00::22"), Port = 8080, Endpoints = [IPEndPoint.Parse("[fd00::1]:9201")] },
            config.Services[2]);
    }

    [Fact]
    public void Parse_NoServicesSection_HasNoServices()
    {
        var config = Valid("splice: on\n");

        Assert.Empty(config.Services);
        Assert.Equal(new MeshConfig(), config);
    }

    [Theory]
    [InlineData("services:\n")]
    [InlineData("services: []\n")]
    [InlineData("services:\n  # - name: catalog\n")]
    public void Parse_EmptyServicesSection_HasNoServices(string yaml)
    {
        Assert.Equal(new MeshConfig(), Valid(yaml));
    }

    [Fact]
    public void Parse_MinimalService_AppliesServiceDefaults()
    {
        var service = Assert.Single(Valid("services:\n  - { name: catalog, address: 127.0.0.10, port: 8080 }\n").Services);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.10"), 8080), Assert.Single(service.Endpoints));
        Assert.Equal(FailMode.Closed, service.FailMode);
        Assert.Equal(UpstreamProtocol.Http1, service.Protocol);
        Assert.Equal(RouteAction.Allow, service.Default);
        Assert.Null(service.Source);
        Assert.Empty(service.Rules);
        Assert.False(service.HasHttpPolicy);
    }

    [Fact]
    public void Parse_DefaultDenyWithoutRules_HasHttpPolicy()
    {
        var service = Assert.Single(Valid("services:\n  - { name: catalog, address: 127.0.0.10, port: 8080, default: deny }\n").Services);

        Assert.Empty(service.Rules);
        Assert.True(service.HasHttpPolicy);
    }

    [Fact]
    public void Parse_RuleWithOnlyAName_MatchesEverythingAndSendsToOwnService()
    {
        var service = Assert.Single(Valid(OneRule("name: all")).Services);

        var rule = Assert.Single(service.Rules);
        Assert.True(service.HasHttpPolicy);
        Assert.Equal(new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, "/") }, Assert.Single(rule.Matches));
        Assert.Equal(RouteAction.Allow, rule.Action);
        Assert.Null(rule.DenyReason);
        Assert.Empty(rule.Filters);
        Assert.Equal(new BackendRef("catalog", 1), Assert.Single(rule.BackendRefs));
        Assert.Equal(new RouteTimeouts { Request = null, BackendRequest = null }, rule.Timeouts);
        Assert.Null(rule.Retry);
        Assert.Null(rule.CircuitBreaker);
        Assert.Null(rule.RateLimit);
        Assert.Null(rule.Fault);
        Assert.Null(rule.Authorization);
    }

    [Theory]
    [InlineData("action: deny")]
    [InlineData("filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]")]
    public void Parse_RuleThatAnswersItself_HasNoBackendRefs(string body)
    {
        var rule = Assert.Single(Assert.Single(Valid(OneRule(body)).Services).Rules);

        Assert.Empty(rule.BackendRefs);
    }

    [Fact]
    public void Parse_MatchWithOnlyPathValue_DefaultsToPathPrefixAndExactHeaders()
    {
        var rule = Assert.Single(Assert.Single(Valid(OneRule("matches: [{ path: { value: /api }, headers: [{ name: a, value: b }] }]")).Services).Rules);

        var match = Assert.Single(rule.Matches);
        Assert.Equal(new PathMatch(PathMatchType.PathPrefix, "/api"), match.Path);
        Assert.Null(match.Method);
        Assert.Equal(StringMatchType.Exact, Assert.Single(match.Headers).Type);
    }

    [Fact]
    public void Parse_EmptyRetry_AppliesIstioLikeDefaults()
    {
        var retry = OnlyRule("retry: {}").Retry;

        Assert.NotNull(retry);
        Assert.Equal(2, retry.Attempts);
        Assert.Equal([502, 504], retry.Codes);
        Assert.Equal(TimeSpan.FromMilliseconds(25), retry.Backoff);
        Assert.Equal(TimeSpan.FromMilliseconds(250), retry.MaxBackoff);
        Assert.False(retry.RetryNonIdempotent);
        Assert.Equal(65536, retry.MaxBodyBytes);
        Assert.Equal(20, retry.BudgetPercent);
        Assert.Equal(new RetryPolicy(), retry);
    }

    [Fact]
    public void Parse_RetryWithOnlyBackoff_MaxBackoffIsTenTimesBackoff()
    {
        Assert.Equal(TimeSpan.FromSeconds(1), OnlyRule("retry: { backoff: 100ms }").Retry!.MaxBackoff);
    }

    [Fact]
    public void Parse_RetryWithEmptyCodes_RetriesOnlyConnectionFailures()
    {
        Assert.Empty(OnlyRule("retry: { codes: [] }").Retry!.Codes);
    }

    [Fact]
    public void Parse_EmptyCircuitBreaker_AppliesDefaults()
    {
        var breaker = OnlyRule("circuitBreaker: {}").CircuitBreaker;

        Assert.Equal(new CircuitBreakerPolicy
        {
            ConsecutiveFailures = 5,
            FailureRatio = null,
            MinimumThroughput = 100,
            SamplingDuration = TimeSpan.FromSeconds(10),
            BreakDuration = TimeSpan.FromSeconds(30),
        }, breaker);
    }

    [Fact]
    public void Parse_CircuitBreakerWithOnlyFailureRatio_CanTurnConsecutiveCountOff()
    {
        var breaker = OnlyRule("circuitBreaker: { consecutiveFailures: 0, failureRatio: 1 }").CircuitBreaker!;

        Assert.Equal((0, 1.0), (breaker.ConsecutiveFailures, breaker.FailureRatio));
    }

    [Theory]
    [InlineData("100", 100)]
    [InlineData("2.5", 3)]
    [InlineData("0.5", 1)]
    public void Parse_RateLimitWithoutBurst_BurstIsOneSecondsWorth(string rate, int burst)
    {
        var limit = OnlyRule($"rateLimit: {{ requestsPerSecond: {rate} }}").RateLimit!;

        Assert.Equal(burst, limit.Burst);
        Assert.False(limit.PerSource);
    }

    [Fact]
    public void Parse_FaultWithoutPercents_AffectsEveryRequest()
    {
        var fault = OnlyRule("fault: { delay: { fixedDelay: 2s }, abort: { httpStatus: 503 } }").Fault!;

        Assert.Equal(new FaultDelay(TimeSpan.FromSeconds(2)) { Percent = 100 }, fault.Delay);
        Assert.Equal(new FaultAbort(503) { Percent = 100 }, fault.Abort);
    }

    [Fact]
    public void Parse_FiltersWithoutOptionalKeys_ApplyGatewayApiDefaults()
    {
        var rule = OnlyRule("""
            filters:
                      - { type: RequestMirror, requestMirror: { backendRef: { name: catalog } } }
                      - { type: RequestRedirect, requestRedirect: { hostname: example.com } }
            """);

        Assert.Equal(100, Assert.IsType<RequestMirrorFilter>(rule.Filters[0]).Percent);
        Assert.Equal(new RequestRedirectFilter { Hostname = "example.com", StatusCode = 302 }, rule.Filters[1]);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("5s", 5_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("2h45m10s500ms", 9_910_500)]
    [InlineData("99999ms", 99_999)]
    public void Parse_GatewayApiDuration_ReadsTimeSpan(string duration, int milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), OnlyRule($"timeouts: {{ request: {duration} }}").Timeouts.Request);
    }

    [Fact]
    public void Parse_WeightsNotSummingToHundred_AreKeptAsRelativeShares()
    {
        var rule = OnlyRule("backendRefs: [{ name: catalog, weight: 30 }, { name: other, weight: 30 }, { name: third, weight: 0 }]",
            "  - { name: other, address: 127.0.0.11, port: 8080 }\n  - { name: third, address: 127.0.0.12, port: 8080 }\n");

        Assert.Equal([new BackendRef("catalog", 30), new BackendRef("other", 30), new BackendRef("third", 0)], rule.BackendRefs);
    }

    [Fact]
    public void Parse_BackendRefWithoutWeight_HasWeightOne()
    {
        Assert.Equal(new BackendRef("catalog", 1), Assert.Single(OnlyRule("backendRefs: [{ name: catalog }]").BackendRefs));
    }

    [Fact]
    public void Parse_ServiceReferencedBeforeItIsDeclared_Resolves()
    {
        var config = Valid("""
            services:
              - name: front
                address: 127.0.0.10
                port: 80
                rules: [{ backendRefs: [{ name: back }], authorization: { allowFrom: [back] } }]
              - { name: back, address: 127.0.0.11, port: 80, source: { cgroup: /sys/fs/cgroup/back } }
            """);

        Assert.Equal("back", config.Services[0].Rules[0].BackendRefs[0].Name);
    }

    [Fact]
    public void Parse_SameFileTwice_GivesEqualConfigs()
    {
        var text = File.ReadAllText(RepositoryFiles.FullPath("config/examples/l7-deny-and-headers.yaml"));

        Assert.Equal(Valid(text), Valid(text));
        Assert.Equal(Valid(text).GetHashCode(), Valid(text).GetHashCode());
    }

    [Fact]
    public void Parse_OneValueChanged_GivesUnequalConfigs()
    {
        Assert.NotEqual(Valid(OneRule("timeouts: { request: 5s }")), Valid(OneRule("timeouts: { request: 6s }")));
    }

    /// <summary>A file with the service 'catalog' at 127.0.0.10:8080 and one rule, whose keys are <paramref name="body"/> (first line at column 9).</summary>
    internal static string OneRule(string body, string moreServices = "") => $"""
        services:
          - name: catalog
            address: 127.0.0.10
            port: 8080
            rules:
              - {body}

        """ + moreServices;

    private static HttpRouteRule OnlyRule(string body, string moreServices = "") =>
        Valid(OneRule(body, moreServices)).Services[0].Rules.Single();
}
