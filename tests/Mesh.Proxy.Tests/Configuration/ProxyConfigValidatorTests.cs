using System.Net;
using Mesh.Proxy.Configuration;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Configuration;

public sealed class ProxyConfigValidatorTests
{
    private static ProxyService Web(params ProxyRoute[] routes) => new()
    {
        Name = "web",
        Address = Address(1),
        Endpoints = [new IPEndPoint(IPAddress.Loopback, 9000)],
        Routes = routes,
    };

    [Fact]
    public void Validate_FullyFeaturedRoute_HasNoErrors()
    {
        var route = new ProxyRoute
        {
            Name = "api",
            Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.PathPrefix, "/api"), Method = "GET" }],
            Rewrite = new UrlRewrite { Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/v2") },
            Backends = [new BackendRef("web", 90), new BackendRef("web-canary", 10)],
            Timeouts = new RouteTimeouts { Request = TimeSpan.FromSeconds(2), BackendRequest = TimeSpan.FromMilliseconds(500) },
            Retry = new RetryPolicy(),
            CircuitBreaker = new CircuitBreakerPolicy { FailureRatio = 0.5 },
            RateLimit = new RateLimitPolicy { Requests = 100, PerSourceAddress = true },
            Fault = new FaultInjection { Delay = new FaultDelay(TimeSpan.FromMilliseconds(5), 1) },
            Mirrors = [new RequestMirror { Service = "web-canary", Percent = 5 }],
            Authorization = new ProxyAuthorization { AllowedSources = ["web-canary"] },
        };
        var canary = new ProxyService { Name = "web-canary", Address = Address(2) };

        Assert.Empty(ProxyConfigValidator.Validate([Web(route), canary]));
    }

    [Fact]
    public void Validate_Mistakes_ReportEachWithItsPath()
    {
        var route = new ProxyRoute
        {
            Name = "bad",
            Matches = [new RouteMatch { Path = new PathMatch(PathMatchType.RegularExpression, "(a)\\1") }],
            Rewrite = new UrlRewrite { Path = new PathModifier(PathModifierType.ReplacePrefixMatch, "/x") },
            Backends = [new BackendRef("nowhere")],
            Timeouts = new RouteTimeouts { Request = TimeSpan.FromSeconds(1), BackendRequest = TimeSpan.FromSeconds(2) },
            CircuitBreaker = new CircuitBreakerPolicy { ConsecutiveFailures = 3, FailureRatio = 0.5 },
            Retry = new RetryPolicy { MaxBodyBytes = -1 },
            RequestHeaders = new HeaderModifier { Set = [new HttpHeader("bad header", "v")] },
            Mirrors = [new RequestMirror { Service = "web" }, new RequestMirror { Service = "ghost" }, new RequestMirror { Service = "web", Percent = 120 }],
        };

        var errors = ProxyConfigValidator.Validate([Web(route), Web() with { Address = Address(2) }]);

        Assert.Contains(errors, e => e.StartsWith("services[web].routes[bad].matches[0].path.value: '(a)\\1' is not a supported regular expression"));
        Assert.Contains("services[web].routes[bad].rewrite.path: ReplacePrefixMatch needs every match of the route to be a PathPrefix match", errors);
        Assert.Contains("services[web].routes[bad].backends[0].service: no service named 'nowhere'", errors);
        Assert.Contains("services[web].routes[bad].timeouts.backendRequest: must not exceed timeouts.request", errors);
        Assert.Contains("services[web].routes[bad].circuitBreaker: set exactly one of consecutiveFailures and failureRatio", errors);
        Assert.Contains("services[web].routes[bad].requestHeaders.set: 'bad header' is not a valid header name", errors);
        Assert.Contains("services[web].routes[bad].retry.maxBodyBytes: must be 0-16777216", errors);
        Assert.Contains("services[web].routes[bad].mirrors[1].service: no service named 'ghost'", errors);
        Assert.Contains(errors, e => e.StartsWith("services[web].routes[bad].mirrors[2].percent:"));
        Assert.DoesNotContain(errors, e => e.Contains("mirrors[0]"));
        Assert.Contains("services[web].name: duplicate service name", errors);
    }

    [Fact]
    public void Validate_SameAddressTwice_IsRefused()
    {
        var other = Web() with { Name = "other" };

        var errors = ProxyConfigValidator.Validate([Web(), other]);

        Assert.Equal(["services[other].address: 127.77.0.1:8080 is already the address of another service"], errors);
    }

    [Fact]
    public void Validate_RedirectWithBackendsAndBadStatus_IsRefused()
    {
        var route = Route("r") with
        {
            Redirect = new RequestRedirect { StatusCode = 200, Scheme = "ftp" },
            Backends = [new BackendRef("web")],
        };

        var errors = ProxyConfigValidator.Validate([Web(route)]);

        Assert.Equal(3, errors.Count);
    }
}
