using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>telemetry</c> section and its <c>otlp</c>, <c>tracing</c> and <c>metrics</c> parts.</summary>
internal sealed class TelemetryBinder
{
    private static readonly TimeSpan MinExportInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxExportInterval = TimeSpan.FromHours(1);

    private readonly MappingBinder<OtlpSettings> _otlp = new(
    [
        new("endpoint", (otlp, value, path, errors) => ReadEndpoint(value, path, errors) is { } endpoint ? otlp with { Endpoint = endpoint } : otlp),
        new("protocol", (otlp, value, path, errors) =>
            ScalarValues.ReadWord(value, path, [("grpc", OtlpProtocol.Grpc), ("http/protobuf", OtlpProtocol.HttpProtobuf)], errors) is { } protocol
                ? otlp with { Protocol = protocol }
                : otlp),
    ], new Dictionary<string, string>
    {
        ["url"] = "write 'endpoint', the collector's base address, such as http://localhost:4317",
        ["headers"] = "set OTEL_EXPORTER_OTLP_HEADERS in the agent's environment; the file has no key for them, so secrets stay out of it",
    });

    private readonly MappingBinder<TracingSettings> _tracing = new(
    [
        new("samplingRatio", (tracing, value, path, errors) => ReadRatio(value, path, errors) is { } ratio ? tracing with { SamplingRatio = ratio } : tracing),
    ], new Dictionary<string, string>
    {
        ["sampler"] = "write 'samplingRatio', a fraction from 0 to 1; the sampler is always parent-based",
        ["samplingPercent"] = "write 'samplingRatio' as a fraction from 0 to 1: 10% is 0.1",
    });

    private readonly MappingBinder<MetricsSettings> _metrics = new(
    [
        new("exportInterval", (metrics, value, path, errors) =>
            ReadExportInterval(value, path, errors) is { } interval ? metrics with { ExportInterval = interval } : metrics),
    ]);

    private readonly MappingBinder<TelemetrySettings> _telemetry;

    public TelemetryBinder()
    {
        _telemetry = new MappingBinder<TelemetrySettings>(
        [
            new("otlp", (telemetry, value, path, errors) => telemetry with { Otlp = _otlp.Bind(value, new OtlpSettings(), path, errors) }),
            new("tracing", (telemetry, value, path, errors) => telemetry with { Tracing = _tracing.Bind(value, new TracingSettings(), path, errors) }),
            new("metrics", (telemetry, value, path, errors) => telemetry with { Metrics = _metrics.Bind(value, new MetricsSettings(), path, errors) }),
        ], new Dictionary<string, string>
        {
            ["endpoint"] = "put it under 'otlp:', as 'otlp: { endpoint: http://localhost:4317 }'",
            ["protocol"] = "put it under 'otlp:', as 'otlp: { protocol: grpc }'",
            ["samplingRatio"] = "put it under 'tracing:', as 'tracing: { samplingRatio: 0.1 }'",
            ["exportInterval"] = "put it under 'metrics:', as 'metrics: { exportInterval: 10s }'",
            ["traces"] = "write 'tracing'",
            ["exporter"] = "the exporter is always OTLP: set it up under 'otlp:'",
        });
    }

    public TelemetrySettings Bind(ConfigNode? node, string path, ConfigErrorList errors) => _telemetry.Bind(node, new TelemetrySettings(), path, errors);

    private static Uri? ReadEndpoint(ConfigNode node, string path, ConfigErrorList errors)
    {
        const string Example = "http://localhost:4317";
        if (ScalarValues.ReadText(node, path, "the collector's URL", Example, errors) is not { } text)
        {
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
        {
            errors.Add(node, $"'{path}' is '{text}', which is not an http:// or https:// URL; write the collector's address with its scheme, "
                + $"such as {Example} for grpc or http://localhost:4318 for http/protobuf");
            return null;
        }
        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            errors.Add(node, $"'{path}' is '{text}', which has a user, query or fragment; write only scheme, host, port and path, "
                + "and put credentials in OTEL_EXPORTER_OTLP_HEADERS in the agent's environment");
            return null;
        }
        var signalPath = uri.AbsolutePath.TrimEnd('/');
        if (signalPath.EndsWith("/v1/traces", StringComparison.Ordinal) || signalPath.EndsWith("/v1/metrics", StringComparison.Ordinal))
        {
            // From the parsed URL, not the text: its path may spell /v1/ escaped (%76) or with dot segments.
            var baseAddress = uri.GetLeftPart(UriPartial.Authority) + signalPath[..signalPath.LastIndexOf("/v1/", StringComparison.Ordinal)];
            errors.Add(node, $"'{path}' is '{text}', a signal's path, but the endpoint is the collector's base address: the proxy appends "
                + $"/v1/traces and /v1/metrics itself; write {baseAddress}");
            return null;
        }
        return uri;
    }

    private static double? ReadRatio(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (node is ScalarNode { IsNull: false } scalar && scalar.Value.EndsWith('%')
            && double.TryParse(scalar.Value[..^1], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var percent))
        {
            errors.Add(scalar, $"'{path}' is '{scalar.Value}', but the ratio is a fraction from 0 to 1, not a percentage; write {(percent / 100).ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            return null;
        }
        return ScalarValues.ReadNumber(node, path, 0, minExcluded: false, 1, "0.1", errors,
            "write the share of new traces to record as a fraction, such as 0.1 for one in ten, 1 for all or 0 for none");
    }

    private static TimeSpan? ReadExportInterval(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (ScalarValues.ReadDuration(node, path, "10s", errors) is not { } interval)
        {
            return null;
        }
        if (interval < MinExportInterval || interval > MaxExportInterval)
        {
            errors.Add(node, $"'{path}' is '{((ScalarNode)node).Value}', but must be from 1s to 1h; write one such as 10s or 1m");
            return null;
        }
        return interval;
    }
}
