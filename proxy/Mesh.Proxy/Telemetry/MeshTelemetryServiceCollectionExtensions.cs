using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mesh.Proxy.Telemetry;

/// <summary>The names under which the proxy publishes its telemetry.</summary>
public static class MeshProxyTelemetry
{
    /// <summary>The proxy's <see cref="System.Diagnostics.ActivitySource"/>: a server span per request, a client span per try.</summary>
    public const string ActivitySourceName = ProxyInstrumentation.Name;

    /// <summary>The proxy's <see cref="System.Diagnostics.Metrics.Meter"/>: mesh.proxy.requests, mesh.proxy.errors, mesh.proxy.request.duration.</summary>
    public const string MeterName = ProxyInstrumentation.Name;
}

/// <summary>Registers the proxy's telemetry.</summary>
public static class MeshTelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Makes the proxy create its spans and metrics, under <see cref="MeshProxyTelemetry.ActivitySourceName"/> and
    /// <see cref="MeshProxyTelemetry.MeterName"/>, for an OpenTelemetry setup of the caller's to export. Without it the
    /// proxy creates neither (and <see cref="MeshProxyHost"/> adds it, with its own exporters, when
    /// <see cref="MeshProxyHostOptions.Telemetry"/> resolves to an endpoint).
    /// </summary>
    public static IServiceCollection AddMeshProxyInstrumentation(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<ProxyInstrumentation>();
        return services;
    }

    /// <summary>The instrumentation, and the OpenTelemetry SDK exporting it over OTLP as <paramref name="plan"/> says.</summary>
    internal static IServiceCollection AddMeshProxyTelemetry(this IServiceCollection services, TelemetryExportPlan plan)
    {
        services.AddMeshProxyInstrumentation();
        var telemetry = services.AddOpenTelemetry();
        if (plan.ServiceName is { } serviceName)
        {
            telemetry.ConfigureResource(resource => resource.AddService(serviceName));
        }

        if (plan.Traces)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(MeshProxyTelemetry.ActivitySourceName);
                if (plan.SamplingRatio is { } ratio)
                {
                    tracing.SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)));
                }

                tracing.AddOtlpExporter("mesh-traces", exporter =>
                {
                    plan.Configure(exporter, "traces");
                    if (plan.Options.TraceExportDelay is { } delay)
                    {
                        exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = Milliseconds(delay);
                    }
                });
            });
        }

        if (plan.Metrics)
        {
            telemetry.WithMetrics(metrics => metrics
                .AddMeter([MeshProxyTelemetry.MeterName, .. plan.Options.AdditionalMeters])
                .AddOtlpExporter("mesh-metrics", (exporter, reader) =>
                {
                    plan.Configure(exporter, "metrics");
                    if (plan.MetricExportInterval is { } interval)
                    {
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = Milliseconds(interval);
                    }
                }));
        }

        return services;
    }

    private static int Milliseconds(TimeSpan span) => (int)Math.Clamp(span.TotalMilliseconds, 1, int.MaxValue);
}
