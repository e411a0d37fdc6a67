using Microsoft.Extensions.Configuration;
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

    /// <summary>
    /// The proxy's <see cref="System.Diagnostics.Metrics.Meter"/>: mesh.proxy.request.duration (whose count is the
    /// requests answered), mesh.proxy.errors, and with its own exporters mesh.proxy.spans.dropped.
    /// </summary>
    public const string MeterName = ProxyInstrumentation.Name;
}

/// <summary>Registers the proxy's telemetry.</summary>
public static class MeshTelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Makes the proxy create its spans and metrics, under <see cref="MeshProxyTelemetry.ActivitySourceName"/> and
    /// <see cref="MeshProxyTelemetry.MeterName"/>, for an OpenTelemetry setup of the caller's to export. Without it the
    /// proxy creates neither (and <see cref="MeshProxyHost"/> adds it, with its own exporters, when
    /// <see cref="MeshProxyHostOptions.Telemetry"/> resolves to an endpoint). The caller's sampler decides which requests
    /// are traced.
    /// </summary>
    public static IServiceCollection AddMeshProxyInstrumentation(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(ProxyTraceSampler.Deferring);
        services.TryAddSingleton<ProxyInstrumentation>();
        return services;
    }

    /// <summary>The instrumentation, and the OpenTelemetry SDK exporting it over OTLP as <paramref name="plan"/> says.</summary>
    internal static IServiceCollection AddMeshProxyTelemetry(this IServiceCollection services, TelemetryExportPlan plan)
    {
        services.AddSingleton(plan.Sampler);
        services.AddMeshProxyInstrumentation();
        var telemetry = services.AddOpenTelemetry().ConfigureResource(resource => plan.DescribeService(resource, TelemetryExportPlan.ProxyServiceName));

        if (plan.Traces)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(MeshProxyTelemetry.ActivitySourceName);
                // The proxy's sampler has decided before a span is started (ProxyInstrumentation.StartRequest).
                tracing.SetSampler(new AlwaysOnSampler());

                tracing.AddOtlpExporter("mesh-traces", exporter =>
                {
                    plan.Configure(exporter, "traces");
                    if (plan.TraceExportDelay is { } delay)
                    {
                        exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = TelemetryExportPlan.Milliseconds(delay);
                    }
                });
            });
        }

        if (plan.Metrics)
        {
            telemetry.WithMetrics(metrics =>
            {
                plan.AddOtlpMetrics(metrics, MeshProxyTelemetry.MeterName);
                if (plan.Traces)
                {
                    // Built and disposed with the meter provider.
                    metrics.AddInstrumentation(services => new DroppedSpanCounter(services.GetRequiredService<ProxyInstrumentation>().Meter));
                }
            });
        }

        return services;
    }
}

/// <summary>
/// OTLP export of another component's meters (the node agent's kernel counters) from the process that owns them, where
/// and how the proxy's options and the <c>OTEL_*</c> environment say, as the proxy exports its own.
/// </summary>
public static class MeshMetricsExport
{
    /// <summary>A running meter provider exporting <paramref name="meters"/>, or null when no metrics are to be exported.</summary>
    /// <param name="options">The telemetry options, as for the proxy.</param>
    /// <param name="serviceName">The service.name of the exported resource, unless the environment names one.</param>
    /// <param name="meters">The <see cref="System.Diagnostics.Metrics.Meter"/> names to export.</param>
    public static MeterProvider? Start(MeshTelemetryOptions options, string serviceName, params string[] meters)
    {
        if (TelemetryExportPlan.Resolve(options) is not { Metrics: true } plan)
        {
            return null;
        }

        var builder = Sdk.CreateMeterProviderBuilder()
            // The SDK reads the OTEL_* variables from this configuration (else from the process's environment).
            .ConfigureServices(services => services.AddSingleton<IConfiguration>(plan.Configuration()))
            .ConfigureResource(resource => plan.DescribeService(resource, serviceName));
        return plan.AddOtlpMetrics(builder, meters).Build();
    }
}
