using System.Collections;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// What the proxy exports, once <see cref="MeshTelemetryOptions"/> and the <c>OTEL_*</c> environment are combined.
/// </summary>
/// <remarks>
/// Precedence, for each setting: the options (from the config file) → the standard OpenTelemetry environment variable
/// → Mesh's default. The <c>OTEL_*</c> variables are handed to the OpenTelemetry SDK as the proxy host's configuration,
/// so it reads every one it knows (headers, timeouts, certificates, resource attributes, per-signal endpoints and
/// protocols, batch sizes); the options then override what they set. Unlike the SDK, which would default to
/// localhost:4317, the proxy exports a signal only when an endpoint is given for it, by the options or by
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or the per-signal variable; <c>OTEL_SDK_DISABLED=true</c> turns both off, and
/// <c>OTEL_TRACES_EXPORTER=none</c> or <c>OTEL_METRICS_EXPORTER=none</c> one of them.
/// </remarks>
internal sealed class TelemetryExportPlan
{
    public const string ProxyServiceName = "mesh-proxy";
    public static readonly TimeSpan DefaultMetricExportInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The proxy's batch delay for spans, not the SDK's 5 s: with 5 s, a sampled share of a busy proxy's requests fills
    /// the 512-span batch first, and from then on every span ended signals the exporter, whose wake-ups take the CPU
    /// from the request path (at 1 % sampling the p99 doubled; measured in loadtest/README.md, telemetry-bench.sh).
    /// </summary>
    public static readonly TimeSpan DefaultTraceExportDelay = TimeSpan.FromMilliseconds(100);

    private const string Prefix = "OTEL_";
    private const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    private const string ProtocolVariable = "OTEL_EXPORTER_OTLP_PROTOCOL";

    private TelemetryExportPlan(MeshTelemetryOptions options, IReadOnlyDictionary<string, string> environment, bool traces, bool metrics)
    {
        Options = options;
        Environment = environment;
        Traces = traces;
        Metrics = metrics;
        Sampler = options.SamplingRatio is { } ratio
            ? new ProxyTraceSampler(followsParent: true, ratio)
            : (environment.TryGetValue("OTEL_TRACES_SAMPLER", out var sampler) ? ProxyTraceSampler.FromVariables(sampler, environment.GetValueOrDefault("OTEL_TRACES_SAMPLER_ARG")) : null)
                ?? new ProxyTraceSampler(followsParent: true, ProxyTraceSampler.DefaultRatio);
    }

    public MeshTelemetryOptions Options { get; }

    /// <summary>The <c>OTEL_*</c> variables, for the SDK to read as configuration.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    public bool Traces { get; }

    public bool Metrics { get; }

    /// <summary>
    /// Which requests are traced: the options' ratio, parent-based; else <c>OTEL_TRACES_SAMPLER</c> and <c>_ARG</c>;
    /// else parent-based at <see cref="ProxyTraceSampler.DefaultRatio"/>. A sampler name the proxy does not know
    /// (jaeger_remote, xray) counts as unset.
    /// </summary>
    public ProxyTraceSampler Sampler { get; }

    /// <summary>The export interval to set, or null to leave it to <c>OTEL_METRIC_EXPORT_INTERVAL</c>.</summary>
    public TimeSpan? MetricExportInterval => Options.MetricExportInterval ?? (Has("OTEL_METRIC_EXPORT_INTERVAL") ? null : DefaultMetricExportInterval);

    /// <summary>The batch delay for spans to set, or null to leave it to <c>OTEL_BSP_SCHEDULE_DELAY</c>.</summary>
    public TimeSpan? TraceExportDelay => Options.TraceExportDelay ?? (Has("OTEL_BSP_SCHEDULE_DELAY") ? null : DefaultTraceExportDelay);

    /// <summary>Names the exported resource <paramref name="serviceName"/>, unless <c>OTEL_SERVICE_NAME</c> or <c>OTEL_RESOURCE_ATTRIBUTES</c> name it.</summary>
    public void DescribeService(ResourceBuilder resource, string serviceName)
    {
        var named = Has("OTEL_SERVICE_NAME") || (Environment.TryGetValue("OTEL_RESOURCE_ATTRIBUTES", out var attributes)
            && attributes.Split(',').Any(a => a.Trim().StartsWith("service.name=", StringComparison.Ordinal)));
        if (!named)
        {
            resource.AddService(serviceName);
        }
    }

    /// <summary>The <c>OTEL_*</c> variables as configuration, where the OpenTelemetry SDK reads them.</summary>
    public IConfiguration Configuration() =>
        new ConfigurationBuilder().AddInMemoryCollection(Environment.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    /// <summary>Exports <paramref name="meters"/> over OTLP, every <see cref="MetricExportInterval"/>.</summary>
    public MeterProviderBuilder AddOtlpMetrics(MeterProviderBuilder metrics, params string[] meters) => metrics
        .AddMeter(meters)
        .AddOtlpExporter("mesh-metrics", (exporter, reader) =>
        {
            Configure(exporter, "metrics");
            if (MetricExportInterval is { } interval)
            {
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = Milliseconds(interval);
            }
        });

    /// <summary>A span as the SDK's millisecond options take it: at least 1.</summary>
    public static int Milliseconds(TimeSpan span) => (int)Math.Clamp(span.TotalMilliseconds, 1, int.MaxValue);

    /// <summary>Null when nothing is to be exported.</summary>
    public static TelemetryExportPlan? Resolve(MeshTelemetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var environment = options.Environment is { } given
            ? given.Where(v => v.Key.StartsWith(Prefix, StringComparison.Ordinal)).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal)
            : ProcessEnvironment();
        bool Set(string name) => environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value);
        bool Is(string name, string expected) => environment.TryGetValue(name, out var value) && value.Trim().Equals(expected, StringComparison.OrdinalIgnoreCase);

        if (Is("OTEL_SDK_DISABLED", "true"))
        {
            return null;
        }

        var traces = (options.Endpoint is not null || Set(EndpointVariable) || Set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) && !Is("OTEL_TRACES_EXPORTER", "none");
        var metrics = (options.Endpoint is not null || Set(EndpointVariable) || Set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) && !Is("OTEL_METRICS_EXPORTER", "none");
        return traces || metrics ? new TelemetryExportPlan(options, environment, traces, metrics) : null;
    }

    /// <summary>Applies the options' endpoint and protocol to one signal's exporter, over what the environment gave.</summary>
    /// <param name="exporter">The signal's exporter options, as the environment set them.</param>
    /// <param name="signal">"traces" or "metrics".</param>
    public void Configure(OtlpExporterOptions exporter, string signal)
    {
        if (Options.Protocol is { } protocol)
        {
            exporter.Protocol = protocol;
        }
        else if (!Has(ProtocolVariable) && !Has($"OTEL_EXPORTER_OTLP_{signal.ToUpperInvariant()}_PROTOCOL"))
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
        }

        if (Options.Endpoint is { } endpoint)
        {
            // An endpoint set in code is used as written; the standard's base-address rule is applied here.
            exporter.Endpoint = exporter.Protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(endpoint.AbsoluteUri.TrimEnd('/') + $"/v1/{signal}")
                : endpoint;
        }
    }

    /// <summary>For the log: which signals go where, and how.</summary>
    public string Describe()
    {
        var signals = (Traces, Metrics) switch
        {
            (true, true) => "traces and metrics",
            (true, false) => "traces",
            _ => "metrics",
        };
        var where = Options.Endpoint?.ToString()
            ?? (Environment.TryGetValue(EndpointVariable, out var endpoint) ? $"{endpoint} ({EndpointVariable})" : "the OTEL_EXPORTER_OTLP_*_ENDPOINT variables");
        var how = Options.Protocol switch
        {
            OtlpExportProtocol.HttpProtobuf => "http/protobuf",
            OtlpExportProtocol.Grpc => "grpc",
            _ => Environment.TryGetValue(ProtocolVariable, out var protocol) ? $"{protocol} ({ProtocolVariable})" : "grpc",
        };
        var sampled = Traces ? $", traces sampled {Sampler.Describe()}" : "";
        return $"{signals} to {where} over {how}{sampled}";
    }

    private bool Has(string name) => Environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value);

    private static Dictionary<string, string> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name && name.StartsWith(Prefix, StringComparison.Ordinal) && entry.Value is string value)
            {
                variables[name] = value;
            }
        }

        return variables;
    }
}
