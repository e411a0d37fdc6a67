using Mesh.Config;
using Mesh.Proxy.Telemetry;
using Mesh.Proxy.Tests.Infrastructure;
using Mesh.Testing.Telemetry;
using OpenTelemetry.Exporter;

namespace Mesh.Proxy.Tests.Telemetry;

/// <summary>
/// Telemetry tests run one at a time: every proxy with telemetry on listens, process-wide, to the activity source and
/// meter named Mesh.Proxy, so two at once would each receive the other's spans.
/// </summary>
[CollectionDefinition(Name)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}

internal static class TelemetryTesting
{
    /// <summary>
    /// Export to <paramref name="receiver"/> over OTLP/HTTP, quickly, ignoring this process's OTEL_* variables; every new
    /// trace sampled unless <paramref name="samplingRatio"/> says otherwise (null: the proxy's default).
    /// </summary>
    public static MeshTelemetryOptions Options(OtlpReceiver receiver, double? samplingRatio = 1) => new()
    {
        Endpoint = receiver.HttpEndpoint,
        Protocol = OtlpExportProtocol.HttpProtobuf,
        SamplingRatio = samplingRatio,
        TraceExportDelay = TimeSpan.FromMilliseconds(50),
        MetricExportInterval = TimeSpan.FromMilliseconds(100),
        Environment = new Dictionary<string, string>(),
    };

    public static Task<TestProxy> StartProxyAsync(MeshTelemetryOptions telemetry, params ServiceConfig[] services) =>
        TestProxy.StartAsync(services, resolver: null, telemetry: telemetry);

    /// <summary>The trace id and parent span id of a traceparent header value.</summary>
    public static (string TraceId, string ParentId, string Flags) ParseTraceparent(string value)
    {
        var parts = value.Split('-');
        Assert.Equal(4, parts.Length);
        Assert.Equal("00", parts[0]);
        return (parts[1], parts[2], parts[3]);
    }
}
