namespace Mesh.Config;

/// <summary>
/// The <c>telemetry</c> section: where the node proxy exports its traces and metrics (OTLP). Every key is optional
/// and null when the file leaves it out; then the standard <c>OTEL_*</c> environment variable applies, and then the
/// proxy's default. With no endpoint in the file or in <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, nothing is exported.
/// </summary>
public sealed record TelemetrySettings
{
    public OtlpSettings Otlp { get; init; } = new();

    public TracingSettings Tracing { get; init; } = new();

    public MetricsSettings Metrics { get; init; } = new();
}

/// <summary><c>telemetry.otlp</c>: the collector.</summary>
public sealed record OtlpSettings
{
    /// <summary>
    /// The collector's base address, http:// or https://; for http/protobuf the proxy appends /v1/traces and /v1/metrics.
    /// Null: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>.
    /// </summary>
    public Uri? Endpoint { get; init; }

    /// <summary>Null: <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, else gRPC.</summary>
    public OtlpProtocol? Protocol { get; init; }
}

/// <summary>How the proxy talks to the collector.</summary>
public enum OtlpProtocol
{
    /// <summary><c>grpc</c>: OTLP/gRPC, usually on port 4317.</summary>
    Grpc,

    /// <summary><c>http/protobuf</c>: OTLP/HTTP with protobuf bodies, usually on port 4318.</summary>
    HttpProtobuf,
}

/// <summary><c>telemetry.tracing</c>.</summary>
public sealed record TracingSettings
{
    /// <summary>
    /// The share of new traces recorded, 0 to 1; a request that arrives with a traceparent follows its caller's
    /// decision. Null: <c>OTEL_TRACES_SAMPLER</c> and <c>OTEL_TRACES_SAMPLER_ARG</c>, else 0.01 (1 %, parent-based).
    /// </summary>
    public double? SamplingRatio { get; init; }
}

/// <summary><c>telemetry.metrics</c>.</summary>
public sealed record MetricsSettings
{
    /// <summary>How often metrics are exported. Null: <c>OTEL_METRIC_EXPORT_INTERVAL</c>, else 10 seconds.</summary>
    public TimeSpan? ExportInterval { get; init; }
}
