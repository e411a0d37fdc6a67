using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Mesh.Testing.Telemetry.Otlp.Collector.Metrics;
using Mesh.Testing.Telemetry.Otlp.Collector.Trace;
using Mesh.Testing.Telemetry.Otlp.Common;
using Mesh.Testing.Telemetry.Otlp.Metrics;
using Mesh.Testing.Telemetry.Otlp.Trace;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Testing.Telemetry;

/// <summary>One span as received, with the resource and scope it was exported under.</summary>
public sealed record ReceivedSpan(Otlp.Resource.Resource Resource, InstrumentationScope Scope, Span Span)
{
    public string TraceId => Convert.ToHexStringLower(Span.TraceId.Span);

    public string SpanId => Convert.ToHexStringLower(Span.SpanId.Span);

    /// <summary>Empty for a root span.</summary>
    public string ParentSpanId => Convert.ToHexStringLower(Span.ParentSpanId.Span);

    public Span.Types.SpanKind Kind => Span.Kind;

    public object? Attribute(string key) => OtlpValues.Find(Span.Attributes, key);

    public object? ResourceAttribute(string key) => OtlpValues.Find(Resource.Attributes, key);
}

/// <summary>One metric data point as received: a sum's value, or a histogram's count.</summary>
public sealed record ReceivedPoint(string Metric, IReadOnlyDictionary<string, object?> Attributes, double Value, ulong TimeUnixNano)
{
    public string SeriesKey => string.Join(",", Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"));
}

/// <summary>
/// A real OTLP receiver on 127.0.0.1: OTLP/HTTP with protobuf bodies (POST /v1/traces and /v1/metrics) on one port,
/// OTLP/gRPC (unary Export calls over h2c, framed by hand) on another. It keeps everything it receives.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private const string TraceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    private const string MetricsExportMethod = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The OTLP/HTTP base address (http://127.0.0.1:port): exporters append /v1/traces and /v1/metrics.</summary>
    public Uri HttpEndpoint { get; private set; } = null!;

    /// <summary>The OTLP/gRPC address (h2c).</summary>
    public Uri GrpcEndpoint { get; private set; } = null!;

    public ConcurrentQueue<ExportTraceServiceRequest> Traces { get; } = new();

    public ConcurrentQueue<ExportMetricsServiceRequest> Metrics { get; } = new();

    /// <summary>"http /v1/traces", "grpc TraceService", ... in arrival order.</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    public IReadOnlyList<ReceivedSpan> Spans =>
    [
        .. Traces.SelectMany(t => t.ResourceSpans).SelectMany(r => r.ScopeSpans.SelectMany(s => s.Spans.Select(span => new ReceivedSpan(r.Resource, s.Scope, span)))),
    ];

    public IReadOnlyList<ReceivedPoint> Points =>
    [
        .. Metrics.SelectMany(m => m.ResourceMetrics).SelectMany(r => r.ScopeMetrics).SelectMany(s => s.Metrics).SelectMany(Flatten),
    ];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddRoutingCore();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.UseRouting();
        app.MapPost("/v1/traces", (HttpContext context) => receiver.ReceiveHttpAsync(context, ExportTraceServiceRequest.Parser, receiver.Traces, new ExportTraceServiceResponse()));
        app.MapPost("/v1/metrics", (HttpContext context) => receiver.ReceiveHttpAsync(context, ExportMetricsServiceRequest.Parser, receiver.Metrics, new ExportMetricsServiceResponse()));
        app.MapPost(TraceExportMethod, (HttpContext context) => receiver.ReceiveGrpcAsync(context, ExportTraceServiceRequest.Parser, receiver.Traces, new ExportTraceServiceResponse()));
        app.MapPost(MetricsExportMethod, (HttpContext context) => receiver.ReceiveGrpcAsync(context, ExportMetricsServiceRequest.Parser, receiver.Metrics, new ExportMetricsServiceResponse()));
        await app.StartAsync();

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        receiver.HttpEndpoint = addresses[0];
        receiver.GrpcEndpoint = addresses[1];
        return receiver;
    }

    /// <summary>Waits until <paramref name="count"/> received spans match, and returns those.</summary>
    public async Task<IReadOnlyList<ReceivedSpan>> WaitForSpansAsync(Func<ReceivedSpan, bool> match, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var spans = Spans.Where(match).ToList();
            if (spans.Count >= count || DateTime.UtcNow > deadline)
            {
                Assert.True(spans.Count >= count,
                    $"expected {count} matching spans, received {spans.Count}; all spans: " + string.Join("; ", Spans.Select(s => $"{s.Span.Name} {s.Kind} {s.TraceId}")));
                return spans;
            }

            await Task.Delay(25);
        }
    }

    /// <summary>
    /// The current total of a cumulative metric over the series that match: the latest point of each series, summed.
    /// Waits until it equals <paramref name="expected"/> (or the timeout passes) and returns the last total seen.
    /// </summary>
    public async Task<double> WaitForTotalAsync(string metric, Func<IReadOnlyDictionary<string, object?>, bool> match, double expected, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var total = Total(metric, match);
            if (total == expected || DateTime.UtcNow > deadline)
            {
                return total;
            }

            await Task.Delay(25);
        }
    }

    public double Total(string metric, Func<IReadOnlyDictionary<string, object?>, bool> match) =>
        Points.Where(p => p.Metric == metric && match(p.Attributes))
            .GroupBy(p => p.SeriesKey)
            .Sum(series => series.MaxBy(p => p.TimeUnixNano)!.Value);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task ReceiveHttpAsync<TRequest, TResponse>(
        HttpContext context,
        MessageParser<TRequest> parser,
        ConcurrentQueue<TRequest> store,
        TResponse response)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        Assert.Equal("application/x-protobuf", context.Request.ContentType);
        var body = await ReadBodyAsync(context.Request);
        store.Enqueue(parser.ParseFrom(body));
        Calls.Enqueue($"http {context.Request.Path}");
        context.Response.ContentType = "application/x-protobuf";
        await context.Response.Body.WriteAsync(response.ToByteArray());
    }

    // gRPC over HTTP/2: a 5-byte prefix (compressed flag, big-endian length) before each message, the status in trailers.
    private async Task ReceiveGrpcAsync<TRequest, TResponse>(
        HttpContext context,
        MessageParser<TRequest> parser,
        ConcurrentQueue<TRequest> store,
        TResponse response)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        Assert.StartsWith("application/grpc", context.Request.ContentType);
        var body = await ReadBodyAsync(context.Request);
        var length = BinaryPrimitives.ReadInt32BigEndian(body.AsSpan(1, 4));
        var message = body.AsSpan(5, length).ToArray();
        if (body[0] == 1)
        {
            message = Gunzip(message);
        }

        store.Enqueue(parser.ParseFrom(message));
        Calls.Enqueue($"grpc {context.Request.Path}");
        var reply = response.ToByteArray();
        var frame = new byte[5 + reply.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1, 4), reply.Length);
        reply.CopyTo(frame, 5);
        context.Response.ContentType = "application/grpc";
        await context.Response.Body.WriteAsync(frame);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        var bytes = buffer.ToArray();
        return request.Headers.ContentEncoding == "gzip" ? Gunzip(bytes) : bytes;
    }

    private static byte[] Gunzip(byte[] bytes)
    {
        using var input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    private static IEnumerable<ReceivedPoint> Flatten(Metric metric) => metric.DataCase switch
    {
        Metric.DataOneofCase.Sum => metric.Sum.DataPoints.Select(p => new ReceivedPoint(
            metric.Name, OtlpValues.ToDictionary(p.Attributes), p.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? p.AsInt : p.AsDouble, p.TimeUnixNano)),
        Metric.DataOneofCase.Gauge => metric.Gauge.DataPoints.Select(p => new ReceivedPoint(
            metric.Name, OtlpValues.ToDictionary(p.Attributes), p.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? p.AsInt : p.AsDouble, p.TimeUnixNano)),
        Metric.DataOneofCase.Histogram => metric.Histogram.DataPoints.Select(p => new ReceivedPoint(
            metric.Name, OtlpValues.ToDictionary(p.Attributes), p.Count, p.TimeUnixNano)),
        _ => [],
    };
}

public static class OtlpValues
{
    public static object? Find(IEnumerable<KeyValue> attributes, string key) =>
        attributes.FirstOrDefault(a => a.Key == key) is { } found ? Value(found.Value) : null;

    public static IReadOnlyDictionary<string, object?> ToDictionary(IEnumerable<KeyValue> attributes) =>
        attributes.ToDictionary(a => a.Key, a => Value(a.Value), StringComparer.Ordinal);

    private static object? Value(AnyValue value) => value.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.IntValue => value.IntValue,
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue,
        _ => null,
    };
}
