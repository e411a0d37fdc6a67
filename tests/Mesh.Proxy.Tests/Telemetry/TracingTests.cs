using System.Net;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing.Telemetry;
using SpanKind = Mesh.Testing.Telemetry.Otlp.Trace.Span.Types.SpanKind;
using StatusCode = Mesh.Testing.Telemetry.Otlp.Trace.Status.Types.StatusCode;
using static Mesh.Proxy.Tests.Infrastructure.Services;
using static Mesh.Proxy.Tests.Telemetry.TelemetryTesting;

namespace Mesh.Proxy.Tests.Telemetry;

[Collection(TelemetryCollection.Name)]
public sealed class TracingTests
{
    [Fact]
    public async Task Trace_RequestRetriedTwice_HasOneServerSpanAndOneClientSpanPerAttempt()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 502, 200);
        var service = Service("web", 1, upstream, Route("all") with { Retry = new RetryPolicy() });
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        using var response = await proxy.GetAsync(service, "/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var spans = await receiver.WaitForSpansAsync(_ => true, 4);
        Assert.Equal(4, spans.Count);
        var server = Assert.Single(spans, s => s.Kind == SpanKind.Server);
        var clients = spans.Where(s => s.Kind == SpanKind.Client).OrderBy(s => s.Span.StartTimeUnixNano).ToList();
        Assert.All(spans, s => Assert.Equal("Mesh.Proxy", s.Scope.Name));
        Assert.All(spans, s => Assert.Equal(server.TraceId, s.TraceId));
        Assert.Equal("", server.ParentSpanId);
        Assert.All(clients, c => Assert.Equal(server.SpanId, c.ParentSpanId));
        Assert.Equal([null, 1L, 2L], clients.Select(c => c.Attribute("http.request.resend_count")));
        Assert.Equal([502L, 502L, 200L], clients.Select(c => c.Attribute("http.response.status_code")));
        Assert.Equal([StatusCode.Error, StatusCode.Error, StatusCode.Unset], clients.Select(c => c.Span.Status?.Code ?? StatusCode.Unset));
        Assert.All(clients, c =>
        {
            Assert.Equal("127.0.0.1", c.Attribute("server.address"));
            Assert.Equal((long)upstream.EndPoint.Port, c.Attribute("server.port"));
            Assert.Equal($"http://127.0.0.1:{upstream.EndPoint.Port}/items", c.Attribute("url.full"));
            Assert.Equal("1.1", c.Attribute("network.protocol.version"));
            Assert.Equal("web", c.Attribute("mesh.service"));
            Assert.Null(c.Attribute("mesh.route")); // the server span's
        });
        Assert.Equal("GET web/all", server.Span.Name);
        Assert.Equal("web", server.Attribute("mesh.service"));
        Assert.Equal("web/all", server.Attribute("mesh.route"));
        Assert.Equal("allowed", server.Attribute("mesh.verdict"));
        Assert.Equal(200L, server.Attribute("http.response.status_code"));
        Assert.Equal("/items", server.Attribute("url.path"));
        Assert.Equal("mesh-proxy", server.ResourceAttribute("service.name"));

        // Each try carried its own span as the upstream's parent.
        var sent = upstream.Requests.Select(r => ParseTraceparent(r.Headers["traceparent"])).ToList();
        Assert.Equal(clients.Select(c => (c.TraceId, c.SpanId)), sent.Select(t => (t.TraceId, t.ParentId)));
    }

    [Fact]
    public async Task Trace_ClientSendsTraceparent_ServerSpanContinuesItAndUpstreamReceivesTheTraceId()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const string parentId = "00f067aa0ba902b7";
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", r =>
        {
            r.Headers.Add("traceparent", $"00-{traceId}-{parentId}-01");
            r.Headers.Add("tracestate", "vendor=abc");
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var spans = await receiver.WaitForSpansAsync(_ => true, 2);
        var server = Assert.Single(spans, s => s.Kind == SpanKind.Server);
        var client = Assert.Single(spans, s => s.Kind == SpanKind.Client);
        Assert.Equal(traceId, server.TraceId);
        Assert.Equal(parentId, server.ParentSpanId);
        Assert.Equal("vendor=abc", server.Span.TraceState);
        Assert.Equal(traceId, client.TraceId);
        Assert.Equal(server.SpanId, client.ParentSpanId);

        var received = ParseTraceparent(upstream.Last.Headers["traceparent"]);
        Assert.Equal((traceId, client.SpanId, "01"), received);
        Assert.Equal("vendor=abc", upstream.Last.Headers["tracestate"]);
    }

    [Fact]
    public async Task Trace_ClientSendsBaggage_UpstreamReceivesItWithTheTrySpanAsParent()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 200);
        var service = Service("web", 1, upstream, Route("all") with { Retry = new RetryPolicy() });
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("baggage", "tenant=blue,user=alice"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var spans = await receiver.WaitForSpansAsync(_ => true, 3);
        var clients = spans.Where(s => s.Kind == SpanKind.Client).OrderBy(s => s.Span.StartTimeUnixNano).ToList();
        Assert.Equal(2, upstream.Requests.Count);
        // Both tries, the retry a copy of the first message, carry the caller's baggage (W3C baggage allows blanks
        // around '=', and .NET writes them) and their own span.
        Assert.All(upstream.Requests, r => Assert.Equal(["tenant=blue", "user=alice"],
            r.Headers["baggage"].Split(',').Select(member => string.Join('=', member.Split('=', StringSplitOptions.TrimEntries))).Order()));
        Assert.Equal(clients.Select(c => c.SpanId), upstream.Requests.Select(r => ParseTraceparent(r.Headers["traceparent"]).ParentId));
    }

    [Fact]
    public async Task Trace_ClientTraceparentNotSampled_ExportsNothingButPropagatesTheTraceId()
    {
        const string unsampled = "0af7651916cd43dd8448eb211c80319c";
        const string sampled = "5bd66ef5095369c7b0d1f8f4bd33716a";
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        using var first = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{unsampled}-b7ad6b7169203331-00"));
        var forwarded = ParseTraceparent(upstream.Last.Headers["traceparent"]);
        using var second = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{sampled}-b7ad6b7169203331-01"));

        // The sampled request's spans end after the first request's would have, so once they are in, all are.
        await receiver.WaitForSpansAsync(s => s.TraceId == sampled, 2);
        Assert.DoesNotContain(receiver.Spans, s => s.TraceId == unsampled);
        Assert.Equal(unsampled, forwarded.TraceId);
        Assert.Equal("00", forwarded.Flags);
    }

    [Fact]
    public async Task Trace_SamplingRatioZero_RecordsOnlyRequestsWhoseCallerSampled()
    {
        const string sampled = "5bd66ef5095369c7b0d1f8f4bd33716a";
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver, samplingRatio: 0), service);

        for (var i = 0; i < 5; i++)
        {
            using var root = await proxy.GetAsync(service, "/");
        }

        using var continued = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{sampled}-b7ad6b7169203331-01"));

        await receiver.WaitForSpansAsync(s => s.TraceId == sampled, 2);
        Assert.All(receiver.Spans, s => Assert.Equal(sampled, s.TraceId));
        Assert.Equal(6, upstream.Hits);
    }

    [Fact]
    public async Task Trace_DeniedRequest_HasVerdictDeniedAndNoClientSpan()
    {
        var deny = Route("admin", "/admin") with { Action = RouteAction.Deny };

        var (server, spans) = await LastServerSpanAsync([deny, Route("all")], requests: 1, "/admin");

        Assert.Equal("denied", server.Attribute("mesh.verdict"));
        Assert.Equal(403L, server.Attribute("http.response.status_code"));
        Assert.Equal("web/admin", server.Attribute("mesh.route"));
        Assert.DoesNotContain(spans, s => s.Kind == SpanKind.Client);
    }

    [Fact]
    public async Task Trace_RateLimitedRequest_HasVerdictRateLimited()
    {
        var limited = Route("all") with { RateLimit = new RateLimitPolicy { RequestsPerSecond = 1.0 / 30, Burst = 1 } };

        var (server, spans) = await LastServerSpanAsync([limited], requests: 2);

        Assert.Equal("rate-limited", server.Attribute("mesh.verdict"));
        Assert.Equal(429L, server.Attribute("http.response.status_code"));
        Assert.Single(spans, s => s.Kind == SpanKind.Client);
        Assert.Single(spans, s => s.Kind == SpanKind.Server && (string?)s.Attribute("mesh.verdict") == "allowed");
    }

    [Fact]
    public async Task Trace_FaultAbort_HasVerdictFaultInjected()
    {
        var chaos = Route("all") with { Fault = new FaultPolicy { Abort = new FaultAbort(503) } };

        var (server, spans) = await LastServerSpanAsync([chaos], requests: 1);

        Assert.Equal("fault-injected", server.Attribute("mesh.verdict"));
        Assert.Equal(503L, server.Attribute("http.response.status_code"));
        Assert.Equal(StatusCode.Error, server.Span.Status.Code);
        Assert.DoesNotContain(spans, s => s.Kind == SpanKind.Client);
    }

    [Fact]
    public async Task Trace_CircuitOpen_HasVerdictCircuitOpenAndNoClientSpan()
    {
        var breaking = Route("all") with
        {
            CircuitBreaker = new CircuitBreakerPolicy { ConsecutiveFailures = 1, BreakDuration = TimeSpan.FromSeconds(30) },
        };

        var (server, spans) = await LastServerSpanAsync([breaking], requests: 2, upstreamStatus: 500);

        Assert.Equal("circuit-open", server.Attribute("mesh.verdict"));
        Assert.Equal(503L, server.Attribute("http.response.status_code"));
        Assert.DoesNotContain(spans, s => s.Kind == SpanKind.Client && s.ParentSpanId == server.SpanId);
        Assert.Single(spans, s => s.Kind == SpanKind.Client);
    }

    /// <summary>Sends <paramref name="requests"/> requests to a service "web" with the routes; returns the last one's server span and all spans.</summary>
    private static async Task<(ReceivedSpan Server, IReadOnlyList<ReceivedSpan> Spans)> LastServerSpanAsync(
        HttpRouteRule[] routes,
        int requests,
        string path = "/",
        int upstreamStatus = 200)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartWithStatusesAsync(upstreamStatus);
        var service = Service("web", 1, upstream, routes);
        await using var proxy = await StartProxyAsync(Options(receiver), service);

        var traceIds = new List<string>();
        for (var i = 0; i < requests; i++)
        {
            var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            traceIds.Add(traceId);
            using var response = await proxy.SendAsync(service, HttpMethod.Get, path, r => r.Headers.Add("traceparent", $"00-{traceId}-b7ad6b7169203331-01"));
        }

        var last = await receiver.WaitForSpansAsync(s => s.TraceId == traceIds[^1] && s.Kind == SpanKind.Server, 1);
        return (Assert.Single(last), receiver.Spans);
    }
}
