using System.Net;
using Mesh.Config;
using Mesh.Testing;

namespace Mesh.Cli.Tests.Deployment;

/// <summary>
/// docker-compose.yml cannot be run here (no Docker daemon), so it is checked by a real tool: docker-compose 1.29
/// validates it against the Compose schema and resolves it, and these tests read what it resolved. A machine without
/// docker-compose fails them: .ci/prerequisites installs it.
/// </summary>
public class DockerComposeTests(ResolvedCompose compose) : IClassFixture<ResolvedCompose>
{
    private const string Agent = "mesh-node";

    [Fact]
    public void Config_RepositoryComposeFile_ExitsZero()
    {
        Assert.True(compose.ExitCode == 0, $"docker-compose -f {compose.ComposeFile} config exited with {compose.ExitCode}: {compose.Errors}");
        Assert.Equal(["backend", "client", "jaeger", Agent], compose.ServiceNames().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Agent_Resolved_IsPrivilegedInTheHostNetworkAndPidNamespaces()
    {
        var agent = compose.Service(Agent);

        Assert.Equal("true", agent.Scalar("privileged"));
        Assert.Equal("host", agent.Scalar("network_mode"));
        Assert.Equal("host", agent.Scalar("pid"));
    }

    [Fact]
    public void Agent_Resolved_MountsBpfFsAndTheCgroupRootWritable()
    {
        var binds = compose.Service(Agent).Binds();

        Assert.Contains(("/sys/fs/bpf", "/sys/fs/bpf", false), binds);
        Assert.Contains(("/sys/fs/cgroup", "/sys/fs/cgroup", false), binds);
    }

    [Fact]
    public void Agent_Resolved_BuildsTheCliDockerfileFromTheRepositoryRoot()
    {
        var build = Assert.IsType<YamlDotNet.RepresentationModel.YamlMappingNode>(compose.Service(Agent).Child("build"));

        Assert.Equal(compose.RepositoryRoot, Path.TrimEndingDirectorySeparator(build.Scalar("context") ?? ""));
        Assert.Equal("redirector/Mesh.Cli/Dockerfile", build.Scalar("dockerfile"));
        Assert.Contains("dotnet publish redirector/Mesh.Cli ", File.ReadAllText(RepositoryFiles.FullPath("redirector/Mesh.Cli/Dockerfile")));
    }

    [Fact]
    public void Agent_Resolved_ExportsOtlpToJaegersPublishedGrpcPort()
    {
        var environment = compose.Service(Agent).Environment();

        Assert.Equal("http://localhost:4317", environment["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        Assert.Equal("grpc", environment["OTEL_EXPORTER_OTLP_PROTOCOL"]);
        Assert.Equal("mesh-node", environment["OTEL_SERVICE_NAME"]);
        Assert.Equal("parentbased_always_on", environment["OTEL_TRACES_SAMPLER"]);
        Assert.Contains((4317, 4317), compose.Service("jaeger").Ports());
    }

    [Fact]
    public void Jaeger_Resolved_PublishesOtlpAndUiPorts()
    {
        var jaeger = compose.Service("jaeger");

        Assert.StartsWith("jaegertracing/all-in-one:", jaeger.Scalar("image"));
        Assert.Equal("true", jaeger.Environment()["COLLECTOR_OTLP_ENABLED"]);
        Assert.Superset(new HashSet<(int, int)> { (4317, 4317), (4318, 4318), (16686, 16686) }, new HashSet<(int, int)>(jaeger.Ports()));
    }

    [Fact]
    public void Agent_MountedConfigFile_ExistsAndLoads()
    {
        var config = LoadAgentConfig(out var hostPath);

        Assert.StartsWith(compose.RepositoryRoot + Path.DirectorySeparatorChar, hostPath);
        Assert.Contains(config.Services, service => service.HasHttpPolicy);
    }

    [Fact]
    public void SampleServices_Resolved_CallThePolicedServiceThroughTheHostNetwork()
    {
        var policed = Assert.Single(LoadAgentConfig(out _).Services, service => service.HasHttpPolicy);
        var client = compose.Service("client");
        var backend = compose.Service("backend");

        // Only in the host's network namespace is the client's 127.0.0.1 the node proxy's.
        Assert.All([client, backend], service => Assert.Equal("host", service.Scalar("network_mode")));
        Assert.Contains($"http://{policed.Address}:{policed.Port}/", string.Join(' ', client.Strings("command")));
        var endpoint = Assert.Single(policed.Endpoints);
        Assert.Equal(IPAddress.Loopback, endpoint.Address);
        Assert.Contains(endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), backend.Strings("command"));
    }

    /// <summary>The file the agent's --config names, found on the host through the agent's bind mounts, loaded as `mesh run` loads it.</summary>
    private MeshConfig LoadAgentConfig(out string hostPath)
    {
        var agent = compose.Service(Agent);
        var command = agent.Strings("command");
        var flag = command.ToList().IndexOf("--config");
        Assert.True(flag >= 0 && flag + 1 < command.Count, $"the agent's command has no --config FILE: {string.Join(' ', command)}");
        var inContainer = command[flag + 1];
        var bind = Assert.Single(agent.Binds(), bind => inContainer == bind.Target || inContainer.StartsWith(bind.Target + "/", StringComparison.Ordinal));
        hostPath = bind.Source + inContainer[bind.Target.Length..];
        Assert.True(File.Exists(hostPath), $"{hostPath}, mounted as the agent's {inContainer}, does not exist");

        var result = new MeshConfigLoader().Load(hostPath);
        Assert.Empty(result.Errors);
        return result.Config!;
    }
}
