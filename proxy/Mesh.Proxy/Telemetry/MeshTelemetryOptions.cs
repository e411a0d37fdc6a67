using OpenTelemetry.Exporter;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// Where and how the proxy exports its traces and metrics over OTLP. Every setting left null falls back to the standard
/// OpenTelemetry environment variable, then to Mesh's default: what the config file says wins, the environment fills in
/// what it leaves out. Without an endpoint in either, nothing is exported and no exporter is started.
/// </summary>
public sealed record MeshTelemetryOptions
{
    /// <summary>
    /// The collector's base address: <c>http://collector:4317</c> for gRPC, <c>http://collector:4318</c> for
    /// http/protobuf, where <c>/v1/traces</c> and <c>/v1/metrics</c> are appended. Null: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
    /// (or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c> / <c>_METRICS_ENDPOINT</c>, used as written).
    /// </summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Null: <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> (or the per-signal variable), else gRPC.</summary>
    public OtlpExportProtocol? Protocol { get; init; }

    /// <summary>
    /// The share of new traces recorded, 0 to 1, parent-based: a request whose traceparent says sampled (or not) is
    /// recorded (or not) whatever the ratio. Null: <c>OTEL_TRACES_SAMPLER</c> and <c>_ARG</c> if set, else
    /// <see cref="ProxyTraceSampler.DefaultRatio"/> (1 %).
    /// </summary>
    public double? SamplingRatio { get; init; }

    /// <summary>How often metrics are exported. Null: <c>OTEL_METRIC_EXPORT_INTERVAL</c>, else 10 seconds.</summary>
    public TimeSpan? MetricExportInterval { get; init; }

    /// <summary>
    /// How long finished spans wait to be exported in a batch. Null: <c>OTEL_BSP_SCHEDULE_DELAY</c>, else 100 ms
    /// (<see cref="TelemetryExportPlan.DefaultTraceExportDelay"/>).
    /// </summary>
    public TimeSpan? TraceExportDelay { get; init; }

    /// <summary>
    /// The <c>OTEL_*</c> environment variables to read (headers, timeouts, certificates, resource attributes, service
    /// name, ... as the OpenTelemetry SDK defines them). Null: this process's environment.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}
