using Mesh.Config;
using Mesh.Testing;
using YamlDotNet.RepresentationModel;

namespace Mesh.Cli.Tests.Deployment;

/// <summary>
/// docker-compose.yml and its offline override as a real tool reads them: docker-compose 1.29 validates them against
/// the Compose schema, merges and resolves them, and these tests read what it resolved, with the demo's Mesh config.
/// (Mesh.Kernel.Tests' ComposeDemoTests runs them.) A machine without docker-compose fails them: .ci/prerequisites
/// installs it.
/// </summary>
public class DockerComposeTests(ResolvedComposeFiles files) : IClassFixture<ResolvedComposeFiles>
{
    private const string Agent = "mesh-node";
    private const string DemoConfig = "config/examples/l7-docker-compose.yaml";
    private const string SamplesContext = "config/examples/compose";

    private ResolvedCompose Compose => files.Default;

    [Fact]
    public void Config_ComposeFileAloneAndWithOfflineOverride_ExitZeroWithTheSameServices()
    {
        foreach (var resolved in new[] { files.Default, files.Offline })
        {
            Assert.True(resolved.ExitCode == 0, $"docker-compose -f {resolved.Files} config exited with {resolved.ExitCode}: {resolved.Errors}");
            Assert.Equal(["backend", "client", "jaeger", Agent], resolved.ServiceNames().Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void Offline_ServicesStartedByDefault_AreAllBuiltHereFromScratch()
    {
        var started = StartedByDefault(files.Offline);

        Assert.Equal(["backend", "client"], started.Order(StringComparer.Ordinal));
        Assert.All(started, name =>
        {
            var build = Assert.IsType<YamlMappingNode>(files.Offline.Service(name).Child("build"));
            var dockerfile = File.ReadAllLines(Path.Combine(build.Scalar("context")!, build.Scalar("dockerfile")!));
            Assert.Equal(["FROM scratch"], dockerfile.Where(line => line.StartsWith("FROM ", StringComparison.Ordinal)));
        });
    }

    [Fact]
    public void Default_StartsJaegerAndTheSamples_WithTheAgentOnlyInItsProfile()
    {
        Assert.Equal(["backend", "client", "jaeger"], StartedByDefault(Compose).Order(StringComparer.Ordinal));
        Assert.Equal([Agent], Compose.Service(Agent).Strings("profiles"));
    }

    [Fact]
    public void Agent_Resolved_IsPrivilegedInTheHostNetworkAndPidNamespaces()
    {
        var agent = Compose.Service(Agent);

        Assert.Equal("true", agent.Scalar("privileged"));
        Assert.Equal("host", agent.Scalar("network_mode"));
        Assert.Equal("host", agent.Scalar("pid"));
    }

    [Fact]
    public void Agent_Resolved_MountsBpfFsTheCgroupRootAndTheDockerSocket()
    {
        var binds = Compose.Service(Agent).Binds();

        Assert.Contains(("/sys/fs/bpf", "/sys/fs/bpf", false), binds);
        Assert.Contains(("/sys/fs/cgroup", "/sys/fs/cgroup", false), binds);
        Assert.Contains(("/var/run/docker.sock", LoadAgentConfig(out _).Discovery.Docker.Socket, false), binds);
        // Only root may follow the Docker socket.
        Assert.Equal(["--run-as", "root"], Compose.Service(Agent).Strings("command").SkipWhile(argument => argument != "--run-as"));
    }

    [Fact]
    public void Agent_Resolved_BuildsTheCliDockerfileFromTheRepositoryRoot()
    {
        var build = Assert.IsType<YamlMappingNode>(Compose.Service(Agent).Child("build"));

        Assert.Equal(Compose.RepositoryRoot, Path.TrimEndingDirectorySeparator(build.Scalar("context") ?? ""));
        Assert.Equal("redirector/Mesh.Cli/Dockerfile", build.Scalar("dockerfile"));
        Assert.Contains("dotnet publish redirector/Mesh.Cli ", File.ReadAllText(RepositoryFiles.FullPath("redirector/Mesh.Cli/Dockerfile")));
    }

    [Fact]
    public void Agent_MountedConfigFile_IsTheDemoConfigAndLoads()
    {
        var config = LoadAgentConfig(out var hostPath);

        Assert.Equal(RepositoryFiles.FullPath(DemoConfig), hostPath);
        Assert.Contains(config.Services, service => service.HasHttpPolicy);
    }

    [Fact]
    public void DemoConfig_ExportsOtlpToThePortJaegerPublishes()
    {
        var otlp = LoadAgentConfig(out _).Telemetry.Otlp;
        var jaeger = Compose.Service("jaeger");

        Assert.Equal(OtlpProtocol.HttpProtobuf, otlp.Protocol);
        Assert.Equal("127.0.0.1", otlp.Endpoint!.Host);
        Assert.Contains((otlp.Endpoint.Port, 4318), jaeger.Ports());
        Assert.StartsWith("jaegertracing/all-in-one:", jaeger.Scalar("image"));
        Assert.Equal("true", jaeger.Environment()["COLLECTOR_OTLP_ENABLED"]);
        Assert.Superset(new HashSet<(int, int)> { (4317, 4317), (4318, 4318), (16686, 16686) }, new HashSet<(int, int)>(jaeger.Ports()));
    }

    [Fact]
    public void SampleServices_Resolved_AreSelectedByTheirLabels_AndCallTheServiceAddressFromTheirOwnNamespace()
    {
        var policed = Assert.Single(LoadAgentConfig(out _).Services, service => service.HasHttpPolicy);
        var client = Compose.Service("client");
        var backend = Compose.Service("backend");
        var labels = Assert.IsType<YamlMappingNode>(backend.Child("labels"));

        // Bridged, not the host's network: the agent serves each container's namespace.
        Assert.All([client, backend], service => Assert.Null(service.Scalar("network_mode")));
        Assert.All(policed.Selector, match => Assert.Equal(match.Value, labels.Scalar(match.Key)));
        Assert.Equal("8080", labels.Scalar("mesh.port"));
        Assert.Contains("\"-p\", \"8080\"", File.ReadAllText(RepositoryFiles.FullPath($"{SamplesContext}/backend/Dockerfile")));
        Assert.Equal($"http://{policed.Address}:{policed.Port}", client.Strings("command")[0]);
        Assert.Equal(["/", "/admin"], client.Strings("command").Skip(1));
    }

    private static IReadOnlyList<string> StartedByDefault(ResolvedCompose compose) =>
        [.. compose.ServiceNames().Where(name => compose.Service(name).Child("profiles") is null)];

    /// <summary>The file the agent's --config names, found on the host through the agent's bind mounts, loaded as `mesh run` loads it.</summary>
    private MeshConfig LoadAgentConfig(out string hostPath)
    {
        var agent = Compose.Service(Agent);
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
