using Mesh.Agent.L7;
using Mesh.Config;
using Mesh.Testing;
using OpenTelemetry.Exporter;

namespace Mesh.Agent.Tests.L7;

public class TelemetryOptionsMapperTests
{
    private readonly TelemetryOptionsMapper _mapper = new();

    [Fact]
    public void MapTelemetry_NoSection_LeavesEverythingToTheEnvironment()
    {
        var options = _mapper.MapTelemetry(new TelemetrySettings());

        Assert.Null(options.Endpoint);
        Assert.Null(options.Protocol);
        Assert.Null(options.SamplingRatio);
        Assert.Null(options.MetricExportInterval);
        Assert.Null(options.Environment);
    }

    [Fact]
    public void MapTelemetry_ExampleFile_CarriesEveryKey()
    {
        var config = new MeshConfigLoader().Load(RepositoryFiles.FullPath("config/examples/l7-telemetry.yaml")).Config!;

        var options = _mapper.MapTelemetry(config.Telemetry);

        Assert.Equal(new Uri("http://localhost:4317"), options.Endpoint);
        Assert.Equal(OtlpExportProtocol.Grpc, options.Protocol);
        Assert.Equal(1.0, options.SamplingRatio);
        Assert.Equal(TimeSpan.FromSeconds(10), options.MetricExportInterval);
    }

    [Fact]
    public void MapTelemetry_HttpProtobuf_IsTheExportersHttpProtobuf()
    {
        var settings = new TelemetrySettings { Otlp = new OtlpSettings { Protocol = OtlpProtocol.HttpProtobuf } };

        Assert.Equal(OtlpExportProtocol.HttpProtobuf, _mapper.MapTelemetry(settings).Protocol);
    }
}
