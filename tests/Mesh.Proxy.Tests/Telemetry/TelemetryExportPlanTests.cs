using Mesh.Proxy.Telemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;

namespace Mesh.Proxy.Tests.Telemetry;

public sealed class TelemetryExportPlanTests
{
    private static readonly Uri Collector = new("http://collector:4318");

    [Fact]
    public void Resolve_NoEndpointInOptionsOrEnvironment_ExportsNothing()
    {
        Assert.Null(TelemetryExportPlan.Resolve(With()));
    }

    [Fact]
    public void Resolve_EndpointInOptions_ExportsTracesAndMetrics()
    {
        var plan = TelemetryExportPlan.Resolve(With() with { Endpoint = Collector })!;

        Assert.True(plan.Traces);
        Assert.True(plan.Metrics);
    }

    [Fact]
    public void Resolve_OnlyTheTracesEndpointVariable_ExportsTracesOnly()
    {
        var plan = TelemetryExportPlan.Resolve(With(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")))!;

        Assert.True(plan.Traces);
        Assert.False(plan.Metrics);
    }

    [Fact]
    public void Resolve_TracesExporterNone_ExportsMetricsOnly()
    {
        var plan = TelemetryExportPlan.Resolve(With(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_TRACES_EXPORTER", "none")))!;

        Assert.False(plan.Traces);
        Assert.True(plan.Metrics);
    }

    [Fact]
    public void Resolve_SdkDisabled_ExportsNothingEvenWithAnEndpointInOptions()
    {
        Assert.Null(TelemetryExportPlan.Resolve(With(("OTEL_SDK_DISABLED", "true")) with { Endpoint = Collector }));
    }

    [Fact]
    public void Resolve_Environment_KeepsOnlyOtelVariables()
    {
        var plan = TelemetryExportPlan.Resolve(With(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("PATH", "/bin")))!;

        Assert.Equal(["OTEL_EXPORTER_OTLP_ENDPOINT"], plan.Environment.Keys);
    }

    [Fact]
    public void Configure_HttpProtobufEndpointInOptions_AppendsTheSignalPath()
    {
        var plan = TelemetryExportPlan.Resolve(With() with { Endpoint = new Uri("http://collector:4318/otlp/"), Protocol = OtlpExportProtocol.HttpProtobuf })!;
        var traces = new OtlpExporterOptions();
        var metrics = new OtlpExporterOptions();

        plan.Configure(traces, "traces");
        plan.Configure(metrics, "metrics");

        Assert.Equal(OtlpExportProtocol.HttpProtobuf, traces.Protocol);
        Assert.Equal(new Uri("http://collector:4318/otlp/v1/traces"), traces.Endpoint);
        Assert.Equal(new Uri("http://collector:4318/otlp/v1/metrics"), metrics.Endpoint);
    }

    [Fact]
    public void Configure_NoProtocolInOptionsOrEnvironment_UsesGrpcAndTheEndpointAsWritten()
    {
        var plan = TelemetryExportPlan.Resolve(With() with { Endpoint = new Uri("http://collector:4317") })!;
        var exporter = new OtlpExporterOptions { Protocol = OtlpExportProtocol.HttpProtobuf };

        plan.Configure(exporter, "traces");

        Assert.Equal(OtlpExportProtocol.Grpc, exporter.Protocol);
        Assert.Equal(new Uri("http://collector:4317"), exporter.Endpoint);
    }

    [Fact]
    public void Configure_ProtocolOnlyInEnvironment_KeepsTheSdksProtocolAndAppendsThePathForIt()
    {
        var plan = TelemetryExportPlan.Resolve(With(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")) with { Endpoint = Collector })!;
        // As the SDK sets it from OTEL_EXPORTER_OTLP_PROTOCOL before the proxy's settings apply.
        var exporter = new OtlpExporterOptions { Protocol = OtlpExportProtocol.HttpProtobuf };

        plan.Configure(exporter, "metrics");

        Assert.Equal(OtlpExportProtocol.HttpProtobuf, exporter.Protocol);
        Assert.Equal(new Uri("http://collector:4318/v1/metrics"), exporter.Endpoint);
    }

    [Theory]
    [InlineData(null, null, null, true, 0.01)]
    [InlineData(0.25, null, null, true, 0.25)]
    [InlineData(null, "always_off", null, false, 0.0)]
    [InlineData(null, "always_on", null, false, 1.0)]
    [InlineData(null, "traceidratio", "0.5", false, 0.5)]
    [InlineData(null, "parentbased_traceidratio", "0.2", true, 0.2)]
    [InlineData(null, "parentbased_traceidratio", "2", true, 1.0)]
    [InlineData(null, "parentbased_always_off", null, true, 0.0)]
    [InlineData(null, "jaeger_remote", null, true, 0.01)]
    [InlineData(0.5, "always_off", null, true, 0.5)]
    [InlineData(0.0, "always_on", null, true, 0.0)]
    public void Sampler_OptionsThenSamplerVariablesThenParentBasedOnePercent(double? ratio, string? sampler, string? argument, bool followsParent, double expected)
    {
        var variables = new List<(string, string)>();
        if (sampler is not null)
        {
            variables.Add(("OTEL_TRACES_SAMPLER", sampler));
        }

        if (argument is not null)
        {
            variables.Add(("OTEL_TRACES_SAMPLER_ARG", argument));
        }

        var plan = TelemetryExportPlan.Resolve(With([.. variables]) with { Endpoint = Collector, SamplingRatio = ratio })!;

        Assert.Equal(followsParent, plan.Sampler.FollowsParent);
        Assert.Equal(expected, plan.Sampler.Ratio);
    }

    [Theory]
    [InlineData(null, null, "mesh-proxy")]
    [InlineData("OTEL_SERVICE_NAME", "mesh-node", null)]
    [InlineData("OTEL_RESOURCE_ATTRIBUTES", "team=a, service.name=mesh-node", null)]
    [InlineData("OTEL_RESOURCE_ATTRIBUTES", "team=a", "mesh-proxy")]
    public void DescribeService_NamesTheResourceOnlyWhenTheEnvironmentGivesNoName(string? variable, string? value, string? expected)
    {
        var environment = variable is null ? With() : With((variable, value!));
        var plan = TelemetryExportPlan.Resolve(environment with { Endpoint = Collector })!;
        var resource = ResourceBuilder.CreateEmpty();

        plan.DescribeService(resource, "mesh-proxy");

        Assert.Equal(expected, resource.Build().Attributes.FirstOrDefault(a => a.Key == "service.name").Value);
    }

    [Fact]
    public void MetricExportInterval_OptionsThenVariableThenTenSeconds() => AssertOptionThenVariableThenDefault(
        "OTEL_METRIC_EXPORT_INTERVAL", TimeSpan.FromSeconds(10), plan => plan.MetricExportInterval,
        (options, interval) => options with { MetricExportInterval = interval });

    [Fact]
    public void TraceExportDelay_OptionsThenVariableThenAHundredMilliseconds() => AssertOptionThenVariableThenDefault(
        "OTEL_BSP_SCHEDULE_DELAY", TimeSpan.FromMilliseconds(100), plan => plan.TraceExportDelay,
        (options, delay) => options with { TraceExportDelay = delay });

    /// <summary>The option wins; else the variable is left to the SDK (null); else Mesh's default.</summary>
    private static void AssertOptionThenVariableThenDefault(
        string variable,
        TimeSpan meshDefault,
        Func<TelemetryExportPlan, TimeSpan?> read,
        Func<MeshTelemetryOptions, TimeSpan, MeshTelemetryOptions> withOption)
    {
        Assert.Equal(meshDefault, read(TelemetryExportPlan.Resolve(With() with { Endpoint = Collector })!));
        var withVariable = With((variable, "5000")) with { Endpoint = Collector };
        Assert.Null(read(TelemetryExportPlan.Resolve(withVariable)!));
        Assert.Equal(TimeSpan.FromSeconds(2), read(TelemetryExportPlan.Resolve(withOption(withVariable, TimeSpan.FromSeconds(2)))!));
    }

    private static MeshTelemetryOptions With(params (string Name, string Value)[] variables) =>
        new() { Environment = variables.ToDictionary(v => v.Name, v => v.Value) };
}
