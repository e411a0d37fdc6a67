using Mesh.Agent.L7;
using Mesh.Proxy.Configuration;
using static Mesh.Agent.Tests.L7.MapperRuns;

namespace Mesh.Agent.Tests.L7;

/// <summary>Timeouts, retry, circuit breaker, rate limit and fault: converted values, and the proxy's bounds.</summary>
public class ProxyModelMapperPolicyTests
{
    private static ProxyMapping Rule(string rule) => Map($$"""
        services:
          - name: web
            address: 127.0.0.10
            port: 8080
            rules:
              - { name: r, {{rule}} }
        """);

    [Fact]
    public void Map_Timeouts_MapsRequestAndBackendRequest()
    {
        var route = Rule("timeouts: { request: 5s, backendRequest: 1500ms }").Only();

        Assert.Equal(new RouteTimeouts { Request = TimeSpan.FromSeconds(5), BackendRequest = TimeSpan.FromMilliseconds(1500) }, route.Timeouts);
    }

    [Fact]
    public void Map_TimeoutsOutsideProxyBounds_ClampsAndWarns()
    {
        var mapping = Rule("timeouts: { request: 48h, backendRequest: 5ms }");

        Assert.Equal(new RouteTimeouts { Request = TimeSpan.FromDays(1), BackendRequest = TimeSpan.FromMilliseconds(10) }, mapping.Only().Timeouts);
        Assert.Equal(
        [
            "services[web].rules[r].timeouts.request: the proxy takes 10ms to 24h; 48h becomes 24h",
            "services[web].rules[r].timeouts.backendRequest: the proxy takes 10ms to 24h; 5ms becomes 10ms",
        ], mapping.Warnings);
    }

    [Fact]
    public void Map_EmptyRetry_HasTheConfigsDefaults()
    {
        var mapping = Rule("retry: {}");

        var retry = mapping.Only().Retry!;
        Assert.Equal(2, retry.Attempts);
        Assert.Equal([502, 504], retry.Codes);
        Assert.True(retry.RetryOnConnectFailure);
        Assert.False(retry.RetryNonIdempotent);
        Assert.Equal(TimeSpan.FromMilliseconds(25), retry.Backoff);
        Assert.Equal(TimeSpan.FromMilliseconds(250), retry.MaxBackoff);
        Assert.Equal(0.2, retry.Budget.Ratio, 10);
        Assert.Equal(new RetryBudget().MinRetriesPerSecond, retry.Budget.MinRetriesPerSecond);
        Assert.Equal(new RetryBudget().Window, retry.Budget.Window);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_RetryEverySetting_MapsEach()
    {
        var mapping = Rule("retry: { attempts: 3, codes: [503], backoff: 100ms, maxBackoff: 2s, retryNonIdempotent: on, budgetPercent: 50 }");

        var retry = mapping.Only().Retry!;
        Assert.Equal(3, retry.Attempts);
        Assert.Equal([503], retry.Codes);
        Assert.True(retry.RetryNonIdempotent);
        Assert.Equal(TimeSpan.FromMilliseconds(100), retry.Backoff);
        Assert.Equal(TimeSpan.FromSeconds(2), retry.MaxBackoff);
        Assert.Equal(0.5, retry.Budget.Ratio, 10);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_RetryBeyondProxyBounds_ClampsAndWarns()
    {
        var mapping = Rule("retry: { attempts: 25, backoff: 2m, maxBackoff: 5m }");

        var retry = mapping.Only().Retry!;
        Assert.Equal(10, retry.Attempts);
        Assert.Equal(TimeSpan.FromMinutes(1), retry.Backoff);
        Assert.Equal(TimeSpan.FromMinutes(1), retry.MaxBackoff);
        Assert.Equal(
        [
            "services[web].rules[r].retry.attempts: the proxy retries at most 10 times; 25 becomes 10",
            "services[web].rules[r].retry.backoff: the proxy takes 0 to 1m; 2m becomes 1m",
            "services[web].rules[r].retry.maxBackoff: the proxy takes 0 to 1m; 5m becomes 1m",
        ], mapping.Warnings);
    }

    [Fact]
    public void Map_RetryMaxBodyBytes_IsTheRoutesReplayLimit()
    {
        var mapping = Rule("retry: { maxBodyBytes: 1024 }");

        Assert.Equal(1024, mapping.Only().Retry?.MaxBodyBytes);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_CircuitBreakerCountOnly_UsesConsecutiveFailures()
    {
        var mapping = Rule("circuitBreaker: { consecutiveFailures: 7 }");

        var breaker = mapping.Only().CircuitBreaker!;
        Assert.Equal(7, breaker.ConsecutiveFailures);
        Assert.Null(breaker.FailureRatio);
        // The config's 30 s default, not the proxy's 5 s.
        Assert.Equal(TimeSpan.FromSeconds(30), breaker.BreakDuration);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_CircuitBreakerWithRatioAndCount_UsesRatioAndWarns()
    {
        var mapping = Rule("circuitBreaker: { consecutiveFailures: 7, failureRatio: 0.25, minimumThroughput: 20, samplingDuration: 1m30s, breakDuration: 45s }");

        Assert.Equal(new CircuitBreakerPolicy
        {
            FailureRatio = 0.25,
            MinimumThroughput = 20,
            SamplingDuration = TimeSpan.FromSeconds(90),
            BreakDuration = TimeSpan.FromSeconds(45),
        }, mapping.Only().CircuitBreaker);
        Assert.StartsWith("services[web].rules[r].circuitBreaker: the proxy opens the breaker on one condition, so only failureRatio 0.25 does, not also 7",
            Assert.Single(mapping.Warnings));
    }

    [Fact]
    public void Map_CircuitBreakerRatioWithCountOff_UsesRatioWithoutWarning()
    {
        var mapping = Rule("circuitBreaker: { consecutiveFailures: 0, failureRatio: 0.5 }");

        var breaker = mapping.Only().CircuitBreaker!;
        Assert.Null(breaker.ConsecutiveFailures);
        Assert.Equal(0.5, breaker.FailureRatio);
        // The config's defaults, not the proxy's (10 and 5 s).
        Assert.Equal(100, breaker.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(10), breaker.SamplingDuration);
        Assert.Equal(TimeSpan.FromSeconds(30), breaker.BreakDuration);
        Assert.Empty(mapping.Warnings);
    }

    [Theory]
    [InlineData("{ requestsPerSecond: 100, burst: 20 }", 20, 200)]
    [InlineData("{ requestsPerSecond: 5 }", 5, 1000)]
    [InlineData("{ requestsPerSecond: 0.5, burst: 1 }", 1, 2000)]
    [InlineData("{ requestsPerSecond: 0.5 }", 1, 2000)]
    [InlineData("{ requestsPerSecond: 3, burst: 1 }", 1, 333.3333)]
    public void Map_RateLimit_AllowsBurstPerWindowOfBurstOverRate(string limit, int requests, double windowMs)
    {
        var mapping = Rule($"rateLimit: {limit}");

        var mapped = mapping.Only().RateLimit!;
        Assert.Equal(requests, mapped.Requests);
        Assert.Equal(windowMs, mapped.Window.TotalMilliseconds, 3);
        Assert.False(mapped.PerSourceAddress);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_RateLimitPerSource_CountsPerSourceAddress()
    {
        Assert.True(Rule("rateLimit: { requestsPerSecond: 10, perSource: on }").Only().RateLimit!.PerSourceAddress);
    }

    [Fact]
    public void Map_RateLimitWindowBelowOneMillisecond_KeepsTheRateAndWarns()
    {
        var mapping = Rule("rateLimit: { requestsPerSecond: 50000, burst: 10 }");

        Assert.Equal(new RateLimitPolicy { Requests = 50, Window = TimeSpan.FromMilliseconds(1) }, mapping.Only().RateLimit);
        Assert.Equal(
            "services[web].rules[r].rateLimit: a burst of 10 at 50000 requests per second needs a window of 0.0002 s, outside the proxy's 1 ms to 1 day; the proxy allows 50 requests per 1ms",
            Assert.Single(mapping.Warnings));
    }

    [Fact]
    public void Map_RateLimitWindowAboveOneDay_ClampsAndWarns()
    {
        var mapping = Rule("rateLimit: { requestsPerSecond: 0.00001, burst: 2 }");

        Assert.Equal(new RateLimitPolicy { Requests = 1, Window = TimeSpan.FromDays(1) }, mapping.Only().RateLimit);
        Assert.Single(mapping.Warnings);
    }

    [Fact]
    public void Map_Fault_MapsDelayAndAbort()
    {
        var mapping = Rule("fault: { delay: { fixedDelay: 100ms, percent: 10 }, abort: { httpStatus: 418, percent: 0.5 } }");

        var fault = mapping.Only().Fault!;
        Assert.Equal(new FaultDelay(TimeSpan.FromMilliseconds(100), 10), fault.Delay);
        Assert.Equal(new FaultAbort(418, 0.5), fault.Abort);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_FaultAbortOnly_HasNoDelayAndAbortsEveryRequest()
    {
        var fault = Rule("fault: { abort: { httpStatus: 503 } }").Only().Fault!;

        Assert.Null(fault.Delay);
        Assert.Equal(new FaultAbort(503, 100), fault.Abort);
    }

    [Fact]
    public void Map_FaultDelayAboveOneHour_ClampsAndWarns()
    {
        var mapping = Rule("fault: { delay: { fixedDelay: 2h } }");

        Assert.Equal(new FaultDelay(TimeSpan.FromHours(1), 100), mapping.Only().Fault!.Delay);
        Assert.Equal("services[web].rules[r].fault.delay.fixedDelay: the proxy takes 0 to 1h; 2h becomes 1h", Assert.Single(mapping.Warnings));
    }
}
