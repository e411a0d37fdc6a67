using System.Net;
using Mesh.Agent.L7;
using Mesh.Config;
using Mesh.Proxy.Configuration;
using Mesh.Proxy.Isolation;
using Mesh.Testing;

namespace Mesh.Agent.Tests.L7;

/// <summary>The example files are what users copy: each must reach the proxy as a configuration it accepts.</summary>
public class ProxyModelMapperExampleTests
{
    private readonly MeshConfigLoader _loader = new();
    private readonly ProxyModelMapper _mapper = new();

    public static TheoryData<string> L7Examples() =>
        [.. RepositoryFiles.Files("config/examples", "l7-*.yaml").Select(f => Path.GetFileName(f))];

    [Fact]
    public void Files_ExamplesFolder_HasL7Examples()
    {
        Assert.True(L7Examples().Count >= 7);
    }

    [Theory]
    [MemberData(nameof(L7Examples))]
    public void Map_L7ExampleFile_PassesProxyValidation(string fileName)
    {
        var config = Load(fileName);

        var mapping = _mapper.Map(config);

        Assert.Empty(ProxyConfigValidator.Validate(mapping.Services));
        Assert.Equal(config.Services.Count(s => s.HasHttpPolicy), mapping.Services.Count(s => s.Routes.Count > 0 || s.Default == ProxyAction.Deny));
    }

    [Theory]
    [MemberData(nameof(L7Examples))]
    public void DivertedServices_L7ExampleFile_AreTheMappedServicesWithPolicy(string fileName)
    {
        var config = Load(fileName);

        var diverted = _mapper.DivertedServices(config);

        var policed = _mapper.Map(config).Services.Where(s => config.Services.Single(c => c.Name == s.Name).HasHttpPolicy).Select(s => s.Address);
        Assert.Equal(policed, diverted.Select(service => service.EndPoint));
        Assert.NotEmpty(diverted);
    }

    [Theory]
    [MemberData(nameof(L7Examples))]
    public void Map_L7ExampleFile_CrossesThePipeToTheProxyProcessUnchanged(string fileName)
    {
        var config = Load(fileName);
        var instruction = new ProxyInstruction
        {
            Generation = 1,
            Start = new ProxyStartSettings
            {
                Listen = [new IPEndPoint(IPAddress.Loopback, 15001), new IPEndPoint(IPAddress.IPv6Loopback, 15001)],
                Limits = _mapper.MapLimits(config.Proxy),
                Telemetry = _mapper.MapTelemetry(config.Telemetry),
                ShutdownTimeout = config.Agent.DrainTimeout,
            },
            Services = _mapper.Map(config).Services,
        };

        var line = ProxyWireFormat.Write(instruction);
        var received = ProxyWireFormat.Read<ProxyInstruction>(line);

        // Written again, what the proxy read gives the same line: nothing was lost or changed on the way.
        Assert.DoesNotContain('\n', line);
        Assert.Equal(line, ProxyWireFormat.Write(received));
        Assert.Empty(ProxyConfigValidator.Validate(received.Services));
        Assert.Equal(instruction.Services.Select(s => s.Address), received.Services.Select(s => s.Address));
    }

    [Theory]
    [InlineData("l7-deny-and-headers.yaml")]
    [InlineData("l7-fault-injection.yaml")]
    [InlineData("l7-rewrite-redirect-mirror.yaml")]
    [InlineData("l7-retries-timeouts.yaml")]
    [InlineData("l7-traffic-split.yaml")]
    public void Map_ExampleWithinProxyModel_HasNoWarnings(string fileName)
    {
        Assert.Empty(_mapper.Map(Load(fileName)).Warnings);
    }

    [Theory]
    [InlineData("l7-authorization.yaml", "services[batch].source.cgroup: /sys/fs/cgroup/batch.slice does not exist on this node")]
    [InlineData("l7-circuit-breaker-rate-limit.yaml", "services[search].rules[queries].circuitBreaker: ")]
    public void Map_ExampleBeyondProxyModel_WarnsOnce(string fileName, string warning)
    {
        Assert.StartsWith(warning, Assert.Single(_mapper.Map(Load(fileName)).Warnings));
    }

    private MeshConfig Load(string fileName)
    {
        var result = _loader.Load(RepositoryFiles.FullPath($"config/examples/{fileName}"));
        Assert.Empty(result.Errors);
        return result.Config!;
    }
}
