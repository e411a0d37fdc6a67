using System.Net;
using Mesh.Proxy.Telemetry;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using static Mesh.Proxy.Tests.Infrastructure.Services;
using static Mesh.Proxy.Tests.Telemetry.TelemetryTesting;

namespace Mesh.Proxy.Tests.Telemetry;

/// <summary>How the proxy host turns telemetry options and the OTEL_* environment into exporters.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class TelemetryHostingTests
{
    [Fact]
    public async Task Telemetry_NoEndpointAnywhere_StartsNoExporterAndTheProxyStillWorks()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var off = new MeshTelemetryOptions { SamplingRatio = 1, Environment = new Dictionary<string, string>() };
        await using var proxy = await StartProxyAsync(off, service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(proxy.Host.Services.GetService<TracerProvider>());
        Assert.Null(proxy.Host.Services.GetService<MeterProvider>());
        Assert.Null(proxy.Host.Services.GetService<ProxyInstrumentation>());
        Assert.Contains(proxy.Logs.Entries, e => e.EventId.Id == 61);
    }

    [Fact]
    public async Task Telemetry_EndpointOnlyInTheEnvironment_ExportsWithTheStandardVariables()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var fromEnvironment = new MeshTelemetryOptions
        {
            Environment = new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.HttpEndpoint.ToString(),
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                ["OTEL_SERVICE_NAME"] = "mesh-node",
                ["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment.name=test",
                ["OTEL_BSP_SCHEDULE_DELAY"] = "50",
                ["OTEL_METRIC_EXPORT_INTERVAL"] = "100",
                ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
                ["OTEL_TRACES_SAMPLER_ARG"] = "1",
            },
        };
        await using var proxy = await StartProxyAsync(fromEnvironment, service);

        using var response = await proxy.GetAsync(service, "/");

        var server = Assert.Single(await receiver.WaitForSpansAsync(s => s.Span.Kind == Mesh.Testing.Telemetry.Otlp.Trace.Span.Types.SpanKind.Server, 1));
        Assert.Equal("mesh-node", server.ResourceAttribute("service.name"));
        Assert.Equal("test", server.ResourceAttribute("deployment.environment.name"));
        Assert.Equal(1, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", _ => true, 1));
        Assert.Contains("http /v1/traces", receiver.Calls);
        Assert.Contains("http /v1/metrics", receiver.Calls);
        Assert.Contains(proxy.Logs.Entries, e => e.EventId.Id == 60 && e.Message.Contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }

    [Fact]
    public async Task Telemetry_EndpointInOptionsAndEnvironment_OptionsWin()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var both = Options(receiver) with
        {
            Environment = new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://{ClosedPort()}",
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc",
            },
        };
        await using var proxy = await StartProxyAsync(both, service);

        using var response = await proxy.GetAsync(service, "/");

        await receiver.WaitForSpansAsync(_ => true, 2);
        Assert.Equal(1, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", _ => true, 1));
        Assert.All(receiver.Calls, c => Assert.StartsWith("http /v1/", c));
    }

    [Fact]
    public async Task Telemetry_GrpcProtocol_ExportsTracesAndMetricsOverGrpc()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var grpc = Options(receiver) with { Endpoint = receiver.GrpcEndpoint, Protocol = OtlpExportProtocol.Grpc };
        await using var proxy = await StartProxyAsync(grpc, service);

        using var response = await proxy.GetAsync(service, "/");

        await receiver.WaitForSpansAsync(_ => true, 2);
        Assert.Equal(1, await receiver.WaitForTotalAsync("mesh.proxy.request.duration", _ => true, 1));
        Assert.Contains("grpc /opentelemetry.proto.collector.trace.v1.TraceService/Export", receiver.Calls);
        Assert.Contains("grpc /opentelemetry.proto.collector.metrics.v1.MetricsService/Export", receiver.Calls);
    }
}
