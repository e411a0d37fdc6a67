using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The <c>telemetry</c> section: values read, and mistakes reported at their line and column with what to write.</summary>
public class TelemetryBindingTests
{
    [Fact]
    public void Parse_NoTelemetrySection_LeavesEverythingToTheEnvironment()
    {
        var telemetry = Valid("splice: on\n").Telemetry;

        Assert.Equal(new TelemetrySettings(), telemetry);
        Assert.Null(telemetry.Otlp.Endpoint);
        Assert.Null(telemetry.Otlp.Protocol);
        Assert.Null(telemetry.Tracing.SamplingRatio);
        Assert.Null(telemetry.Metrics.ExportInterval);
    }

    [Fact]
    public void Parse_EveryKeySet_ReturnsValues()
    {
        var telemetry = Valid("""
            telemetry:
              otlp:
                endpoint: http://otel-collector:4318
                protocol: http/protobuf
              tracing:
                samplingRatio: 0.25
              metrics:
                exportInterval: 30s
            """).Telemetry;

        Assert.Equal(new Uri("http://otel-collector:4318"), telemetry.Otlp.Endpoint);
        Assert.Equal(OtlpProtocol.HttpProtobuf, telemetry.Otlp.Protocol);
        Assert.Equal(0.25, telemetry.Tracing.SamplingRatio);
        Assert.Equal(TimeSpan.FromSeconds(30), telemetry.Metrics.ExportInterval);
    }

    [Theory]
    [InlineData("grpc", OtlpProtocol.Grpc)]
    [InlineData("http/protobuf", OtlpProtocol.HttpProtobuf)]
    public void Parse_Protocol_ReadsEachWord(string word, OtlpProtocol expected)
    {
        Assert.Equal(expected, Valid($"telemetry:\n  otlp:\n    protocol: {word}\n").Telemetry.Otlp.Protocol);
    }

    [Theory]
    [InlineData("0", 0.0)]
    [InlineData("1", 1.0)]
    [InlineData("0.001", 0.001)]
    public void Parse_SamplingRatioInRange_IsRead(string ratio, double expected)
    {
        Assert.Equal(expected, Valid($"telemetry:\n  tracing:\n    samplingRatio: {ratio}\n").Telemetry.Tracing.SamplingRatio);
    }

    [Fact]
    public void Parse_EmptySections_AreDefaults()
    {
        Assert.Equal(new TelemetrySettings(), Valid("telemetry:\n  otlp:\n  tracing:\n  # metrics: { exportInterval: 10s }\n").Telemetry);
    }

    [Fact]
    public void Parse_MisspelledTelemetryKey_SuggestsClosestKey()
    {
        var error = SingleError("telemetry:\n  tracing:\n    samplingRate: 0.5\n");

        Assert.Equal(new ConfigError(FileName, 3, 5, "unknown key 'samplingRate' in 'telemetry.tracing'; did you mean 'samplingRatio'?"), error);
    }

    [Fact]
    public void Parse_EndpointDirectlyUnderTelemetry_SaysToPutItUnderOtlp()
    {
        var error = SingleError("telemetry:\n  endpoint: http://localhost:4317\n");

        AssertError(error, 2, 3, "unknown key 'endpoint' in 'telemetry'", "put it under 'otlp:'");
    }

    [Fact]
    public void Parse_MisspelledTopLevelKey_SuggestsTelemetry()
    {
        AssertError(SingleError("telemetri:\n  otlp: {}\n"), 1, 1, "did you mean 'telemetry'?");
    }

    [Theory]
    [InlineData("localhost:4317", "not an http:// or https:// URL", "such as http://localhost:4317")]
    [InlineData("grpc://collector:4317", "not an http:// or https:// URL", "with its scheme")]
    [InlineData("collector", "not an http:// or https:// URL", "with its scheme")]
    [InlineData("http://user:secret@collector:4318", "has a user, query or fragment", "OTEL_EXPORTER_OTLP_HEADERS")]
    [InlineData("http://collector:4318/v1/traces", "a signal's path", "write http://collector:4318")]
    [InlineData("\"\"", "is empty", "such as http://localhost:4317")]
    public void Parse_BadEndpoint_SaysWhatToWrite(string endpoint, string problem, string fix)
    {
        var error = SingleError($"telemetry:\n  otlp:\n    endpoint: {endpoint}\n");

        AssertError(error, 3, 15, "'telemetry.otlp.endpoint'", problem, fix);
    }

    [Fact]
    public void Parse_UnknownProtocol_ListsTheProtocols()
    {
        var error = SingleError("telemetry:\n  otlp:\n    protocol: http/json\n");

        AssertError(error, 3, 15, "'telemetry.otlp.protocol' is 'http/json', which is not one of grpc, http/protobuf");
    }

    [Theory]
    [InlineData("1.5", "must be from 0 up to 1", "such as 0.1 for one in ten")]
    [InlineData("-0.1", "must be from 0 up to 1", "as a fraction")]
    [InlineData("10%", "not a percentage", "write 0.1")]
    [InlineData("half", "not a number", "such as 0.1")]
    public void Parse_BadSamplingRatio_SaysWhatToWrite(string ratio, string problem, string fix)
    {
        var error = SingleError($"telemetry:\n  tracing:\n    samplingRatio: {ratio}\n");

        AssertError(error, 3, 20, "'telemetry.tracing.samplingRatio'", problem, fix);
    }

    [Theory]
    [InlineData("500ms", "must be from 1s to 1h")]
    [InlineData("2h", "must be from 1s to 1h")]
    [InlineData("10", "has no unit; write 10s")]
    public void Parse_BadExportInterval_SaysWhatToWrite(string interval, string problem)
    {
        var error = SingleError($"telemetry:\n  metrics:\n    exportInterval: {interval}\n");

        AssertError(error, 3, 21, "'telemetry.metrics.exportInterval'", problem);
    }

    [Fact]
    public void Parse_SeveralMistakes_ReportsEachInFileOrder()
    {
        var errors = Errors("""
            telemetry:
              otlp:
                endpoint: localhost:4317
                protocl: grpc
              tracing:
                samplingRatio: 2
            """);

        Assert.Collection(errors,
            e => AssertError(e, 3, 15, "'telemetry.otlp.endpoint'"),
            e => AssertError(e, 4, 5, "did you mean 'protocol'?"),
            e => AssertError(e, 6, 20, "'telemetry.tracing.samplingRatio'"));
    }
}
