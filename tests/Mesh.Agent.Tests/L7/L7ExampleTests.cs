using System.Net;
using Mesh.Agent.L7;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Routing;
using Mesh.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Agent.Tests.L7;

/// <summary>The example files are what users copy: each must reach the proxy unchanged, as services it accepts.</summary>
public class L7ExampleTests
{
    private readonly MeshConfigLoader _loader = new();

    public static TheoryData<string> L7Examples() =>
        [.. RepositoryFiles.Files("config/examples", "l7-*.yaml").Select(f => Path.GetFileName(f))];

    [Fact]
    public void Files_ExamplesFolder_HasL7Examples()
    {
        Assert.True(L7Examples().Count >= 7);
    }

    [Theory]
    [MemberData(nameof(L7Examples))]
    public void DivertedServices_L7ExampleFile_AreTheServicesWithPolicy(string fileName)
    {
        var config = Load(fileName);

        var diverted = L7Agent.DivertedServices(config);

        Assert.Equal(config.Services.Where(s => s.HasHttpPolicy).Select(s => s.EndPoint), diverted.Select(service => service.EndPoint));
        Assert.NotEmpty(diverted);
    }

    [Theory]
    [MemberData(nameof(L7Examples))]
    public async Task Instruction_L7ExampleFile_CrossesThePipeUnchangedAndTheProxyStartsWithIt(string fileName)
    {
        var config = Load(fileName);
        var instruction = new ProxyInstruction
        {
            Generation = 1,
            Start = new ProxyStartSettings
            {
                Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
                Limits = config.Proxy,
                ShutdownTimeout = config.Agent.DrainTimeout,
            },
            Services = config.Services,
            SourceCgroupIds = new ClientSources(_ => 4242UL).Resolve(config).CgroupIds,
        };

        var line = ProxyWireFormat.Write(instruction);
        var received = ProxyWireFormat.Read<ProxyInstruction>(line);
        using var answers = new StringWriter();
        var served = await new ProxyInstructionServer(new StringReader(line), answers, new SocketOriginalDestinationResolver(), NullLoggerFactory.Instance)
            .RunAsync(CancellationToken.None);

        // The records compare by value: what the proxy read is the config, nothing lost or changed on the way.
        Assert.DoesNotContain('\n', line);
        Assert.Equal(config.Services, received.Services);
        Assert.Equal(config.Proxy, received.Start!.Limits);
        Assert.Equal(instruction.SourceCgroupIds, received.SourceCgroupIds);
        Assert.True(served);
        Assert.Equal(new ProxyAcknowledgement(1, null), ProxyWireFormat.Read<ProxyAcknowledgement>(answers.ToString().Trim()));
    }

    [Theory]
    [InlineData("l7-circuit-breaker-rate-limit.yaml")]
    [InlineData("l7-deny-and-headers.yaml")]
    [InlineData("l7-fault-injection.yaml")]
    [InlineData("l7-rewrite-redirect-mirror.yaml")]
    [InlineData("l7-retries-timeouts.yaml")]
    [InlineData("l7-telemetry.yaml")]
    [InlineData("l7-traffic-split.yaml")]
    public void Resolve_ExampleWithoutSources_HasNoWarnings(string fileName)
    {
        Assert.Empty(new ClientSources(_ => null).Resolve(Load(fileName)).Warnings);
    }

    [Fact]
    public void Resolve_AuthorizationExampleOnANodeWithoutItsCgroup_WarnsOnce()
    {
        var (_, warnings) = new ClientSources(_ => null).Resolve(Load("l7-authorization.yaml"));

        Assert.StartsWith("services[batch].source.cgroup: /sys/fs/cgroup/batch.slice does not exist on this node", Assert.Single(warnings));
    }

    private MeshConfig Load(string fileName)
    {
        var result = _loader.Load(RepositoryFiles.FullPath($"config/examples/{fileName}"));
        Assert.Empty(result.Errors);
        return result.Config!;
    }
}
