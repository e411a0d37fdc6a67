using System.Net;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using SpanKind = Mesh.Testing.Telemetry.Otlp.Trace.Span.Types.SpanKind;
using static Mesh.Proxy.Tests.Infrastructure.Services;
using static Mesh.Proxy.Tests.Telemetry.TelemetryTesting;

namespace Mesh.Proxy.Tests.Telemetry;

/// <summary>Which requests the proxy traces, and that every span it recorded is delivered or counted as dropped.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class SamplingTests
{
    private const string CallerParent = "b7ad6b7169203331";

    [Fact]
    public async Task Sampling_Default_TracesOnePercentOfNewTracesAndTellsTheUpstreamOfTheRest()
    {
        const int requests = 2000;
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var proxy = await StartProxyAsync(Options(receiver, samplingRatio: null), service);
        await using (proxy)
        {
            await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (_, _) =>
            {
                using var response = await proxy.GetAsync(service, "/");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            });
        }

        // Stopping the proxy flushed its spans. Binomial(2000, 0.01): mean 20, standard deviation 4.4; outside [5, 40]
        // with a probability below 1e-4.
        var servers = receiver.Spans.Where(s => s.Kind == SpanKind.Server).ToList();
        Assert.InRange(servers.Count, 5, 40);
        Assert.Equal(servers.Count, receiver.Spans.Count(s => s.Kind == SpanKind.Client));
        Assert.All(servers, s => Assert.Equal("", s.ParentSpanId));

        // Every request went upstream with a traceparent of its own: the sampled ones with the trace of their spans,
        // the others marked not sampled, so that the services behind follow the decision.
        var sent = upstream.Requests.Select(r => ParseTraceparent(r.Headers["traceparent"])).ToList();
        Assert.Equal(requests, sent.Count);
        Assert.Equal(requests, sent.Select(t => t.TraceId).Distinct().Count());
        Assert.Equal(servers.Select(s => s.TraceId).Order(), sent.Where(t => t.Flags == "01").Select(t => t.TraceId).Order());
        Assert.Equal(requests - servers.Count, sent.Count(t => t.Flags == "00"));
    }

    [Fact]
    public async Task Sampling_Default_CallerThatSampledIsAlwaysFollowed()
    {
        var traceIds = Enumerable.Range(0, 20).Select(_ => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())).ToList();
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver, samplingRatio: null), service);

        foreach (var traceId in traceIds)
        {
            using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{traceId}-{CallerParent}-01"));
        }

        var servers = await receiver.WaitForSpansAsync(s => s.Kind == SpanKind.Server, traceIds.Count);
        Assert.Equal(traceIds.Order(), servers.Select(s => s.TraceId).Order());
        Assert.All(servers, s => Assert.Equal(CallerParent, s.ParentSpanId));
        Assert.All(upstream.Requests, r => Assert.Equal("01", ParseTraceparent(r.Headers["traceparent"]).Flags));
    }

    /// <summary>
    /// A new trace left out reaches the upstream with the proxy's not-sampled traceparent alone: a malformed one of the
    /// client's is replaced, and a tracestate of the client's dropped with it, whichever of the two it sent.
    /// </summary>
    [Theory]
    [InlineData(null, null)]
    [InlineData("not-a-traceparent", null)]
    [InlineData("not-a-traceparent", "vendor=opaque")]
    [InlineData(null, "vendor=opaque")]
    public async Task Sampling_NewTraceNotSampled_UpstreamGetsOnlyTheProxysTraceparent(string? clientTraceparent, string? clientTracestate)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await StartProxyAsync(Options(receiver, samplingRatio: 0), service);

        using var response = await proxy.SendAsync(service, HttpMethod.Get, "/", r =>
        {
            if (clientTraceparent is not null)
            {
                r.Headers.TryAddWithoutValidation("traceparent", clientTraceparent);
            }

            if (clientTracestate is not null)
            {
                r.Headers.TryAddWithoutValidation("tracestate", clientTracestate);
            }
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(upstream.Requests);
        // One value (a second would be joined with a comma), the proxy's new trace, marked not sampled; no tracestate
        // of the client's, which belonged to no valid trace.
        var (traceId, parentId, flags) = ParseTraceparent(sent.Headers["traceparent"]);
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        Assert.Matches("^[0-9a-f]{16}$", parentId);
        Assert.Equal("00", flags);
        Assert.False(sent.Headers.ContainsKey("tracestate"));
    }

    /// <summary>The standard variables choose the sampler when the file says nothing; where the file sets a ratio, it wins.</summary>
    [Theory]
    [InlineData(null, "always_off", null, false, false)]
    [InlineData(1.0, "always_off", null, false, true)]
    [InlineData(null, "traceidratio", "1", true, true)]
    [InlineData(null, "parentbased_always_on", null, false, true)]
    [InlineData(null, "parentbased_traceidratio", "0", false, false)]
    public async Task Sampling_SamplerVariables_AreHonouredAndTheFileWins(
        double? fileRatio, string sampler, string? argument, bool callerNotSampledIsTraced, bool newTraceIsTraced)
    {
        const string notSampled = "0af7651916cd43dd8448eb211c80319c";
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var environment = new Dictionary<string, string> { ["OTEL_TRACES_SAMPLER"] = sampler };
        if (argument is not null)
        {
            environment["OTEL_TRACES_SAMPLER_ARG"] = argument;
        }

        var proxy = await StartProxyAsync(Options(receiver, fileRatio) with { Environment = environment }, service);
        await using (proxy)
        {
            using var caller = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{notSampled}-{CallerParent}-00"));
            using var root = await proxy.GetAsync(service, "/");
        }

        var servers = receiver.Spans.Where(s => s.Kind == SpanKind.Server).ToList();
        Assert.Equal(callerNotSampledIsTraced, servers.Any(s => s.TraceId == notSampled));
        Assert.Equal(newTraceIsTraced, servers.Any(s => s.TraceId != notSampled));
        Assert.Equal(servers.Count, receiver.Spans.Count(s => s.Kind == SpanKind.Client));
    }

    [Fact]
    public async Task Sampling_MetricsOnly_NoSpansAnywhereAndTheMetricsArrive()
    {
        const string sampled = "5bd66ef5095369c7b0d1f8f4bd33716a";
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var metricsOnly = Options(receiver) with { Environment = new Dictionary<string, string> { ["OTEL_TRACES_EXPORTER"] = "none" } };
        var proxy = await StartProxyAsync(metricsOnly, service);
        await using (proxy)
        {
            Assert.Null(proxy.Host.Services.GetService<TracerProvider>());
            using var caller = await proxy.SendAsync(service, HttpMethod.Get, "/", r => r.Headers.Add("traceparent", $"00-{sampled}-{CallerParent}-01"));
            for (var i = 0; i < 4; i++)
            {
                using var root = await proxy.GetAsync(service, "/");
            }

            Assert.Equal(5, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", a => a.GetValueOrDefault("mesh.route") is "web/all", 5));
        }

        Assert.Empty(receiver.Traces);
        Assert.DoesNotContain(receiver.Points, p => p.Metric == "mesh.proxy.spans.dropped");
        // As with telemetry off: the caller's trace headers go on unchanged, and a request without any gets none.
        var sent = upstream.Requests.ToList();
        Assert.Equal($"00-{sampled}-{CallerParent}-01", sent[0].Headers["traceparent"]);
        Assert.All(sent.Skip(1), r => Assert.False(r.Headers.ContainsKey("traceparent")));
    }

    [Fact]
    public async Task SpansDropped_QueueOfOne_EverySpanIsDeliveredOrCountedAsDropped()
    {
        const int requests = 200;
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var tinyQueue = Options(receiver) with
        {
            Environment = new Dictionary<string, string> { ["OTEL_BSP_MAX_QUEUE_SIZE"] = "1", ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = "1" },
        };
        await using var proxy = await StartProxyAsync(tinyQueue, service);

        await Parallel.ForAsync(0, requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            using var response = await proxy.GetAsync(service, "/");
        });

        // Two spans per request; the counter is cumulative and exported every 100 ms.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        double dropped;
        while ((dropped = receiver.Total("mesh.proxy.spans.dropped", _ => true)) + receiver.Spans.Count < 2 * requests && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(2 * requests, dropped + receiver.Spans.Count);
        Assert.InRange(dropped, 1, 2 * requests - 1);
    }
}
