using Mesh.Proxy.Telemetry;
using OpenTelemetry.Exporter;
using Cfg = Mesh.Config;

namespace Mesh.Agent.L7;

/// <summary>The <c>telemetry</c> section, as the proxy's and the agent's exporters take it.</summary>
internal sealed class TelemetryOptionsMapper
{
    /// <summary>
    /// The proxy's telemetry options: what the file sets, and null for the rest, which the proxy takes from the agent's
    /// <c>OTEL_*</c> environment (the file wins where it says something).
    /// </summary>
    public MeshTelemetryOptions MapTelemetry(Cfg.TelemetrySettings telemetry)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        return new MeshTelemetryOptions
        {
            Endpoint = telemetry.Otlp.Endpoint,
            Protocol = telemetry.Otlp.Protocol switch
            {
                null => null,
                Cfg.OtlpProtocol.Grpc => OtlpExportProtocol.Grpc,
                Cfg.OtlpProtocol.HttpProtobuf => OtlpExportProtocol.HttpProtobuf,
                var protocol => throw Unknown(protocol.Value),
            },
            SamplingRatio = telemetry.Tracing.SamplingRatio,
            MetricExportInterval = telemetry.Metrics.ExportInterval,
        };
    }

    private static ArgumentOutOfRangeException Unknown<T>(T value)
        where T : struct, Enum =>
        new(typeof(T).Name, value, $"the telemetry mapping does not know {typeof(T).Name}.{value}");
}
