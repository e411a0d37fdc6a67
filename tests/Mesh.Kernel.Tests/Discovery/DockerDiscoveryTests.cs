using System.Diagnostics;
using System.Net;
using Mesh.Agent;
using Mesh.Agent.Discovery;
using Mesh.Config;
using Mesh.Kernel.Tests.Agent;
using Mesh.Testing;
using Mesh.Testing.Docker;
using Microsoft.Extensions.Logging;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>One real Docker daemon of the tests' own for the whole class: starting one takes seconds.</summary>
public sealed class DockerDaemonFixture : IAsyncLifetime
{
    public TestDockerDaemon Daemon { get; private set; } = null!;

    public async Task InitializeAsync() => Daemon = await TestDockerDaemon.StartAsync();

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

public sealed class DockerDiscoveryTests(DockerDaemonFixture fixture) : IClassFixture<DockerDaemonFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(1);

    private readonly TestDockerDaemon _docker = fixture.Daemon;
    private readonly CapturingLoggerProvider _logs = new();
    private readonly List<string> _containers = [];
    private readonly string _configFile = Path.Combine(Path.GetTempPath(), $"mesh-test-docker-{Environment.ProcessId}-{Guid.NewGuid():n}.yaml");
    // Each test selects its own containers, so one that another test left behind is never counted.
    private readonly string _label = $"web-{Guid.NewGuid():n}";
    private AgentConfig? _config;
    private DockerDiscovery? _discovery;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_discovery is not null)
        {
            await _discovery.DisposeAsync();
        }
        _config?.Dispose();
        foreach (var container in _containers)
        {
            await ProcessRunner.TryRunAsync("docker", $"-H unix://{_docker.Socket} rm -f {container}");
        }
        File.Delete(_configFile);
    }

    [Fact]
    public async Task LabelledContainer_IsAnEndpointWithin1s_AndLeavesOnPauseDisconnectAndKill()
    {
        await StartDiscoveryAsync(_docker.Socket);

        var clock = Stopwatch.StartNew();
        var web = await RunAsync($"-l mesh.service={_label} -l mesh.port=8080", "sleep 600");
        var address = IPAddress.Parse(await _docker.AddressOfAsync(web));
        var expected = new IPEndPoint(address, 8080);
        await WaitForEndpointsAsync("web", [expected]);
        Assert.True(clock.Elapsed < Within + TimeSpan.FromMilliseconds(500), $"listed {clock.ElapsedMilliseconds} ms after docker run");

        await AfterAsync($"pause {web}", "web", []);
        await AfterAsync($"unpause {web}", "web", [expected]);
        await AfterAsync($"network disconnect bridge {web}", "web", []);
        await _docker.DockerAsync($"network connect bridge {web}");
        var reconnected = new IPEndPoint(IPAddress.Parse(await _docker.AddressOfAsync(web)), 8080);
        await WaitForEndpointsAsync("web", [reconnected]);
        await AfterAsync($"kill {web}", "web", []);
    }

    [Fact]
    public async Task FiveReplicas_AreAllEndpoints_AndScalingDownRemovesExactlyTheStoppedOnes()
    {
        await StartDiscoveryAsync(_docker.Socket);
        var replicas = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            replicas.Add(await RunAsync($"-l mesh.service={_label}", "sleep 600"));
        }
        var all = await EndpointsOfAsync(replicas, 80);
        await WaitForEndpointsAsync("web", all);

        await _docker.DockerAsync($"kill {string.Join(' ', replicas.Take(3))}");

        await WaitForEndpointsAsync("web", await EndpointsOfAsync(replicas.Skip(3), 80));
        Assert.Empty(Service("other").Endpoints);
    }

    [Fact]
    public async Task DaemonRestart_ListsEverythingAgain_AndKeepsNoStaleEndpoint()
    {
        await StartDiscoveryAsync(_docker.Socket);
        var stopsWithDaemon = await RunAsync($"-l mesh.service={_label}", "sleep 600");
        var comesBack = await RunAsync($"--restart always -l mesh.service={_label}", "sleep 600");
        await WaitForEndpointsAsync("web", await EndpointsOfAsync([stopsWithDaemon, comesBack], 80));

        await _docker.RestartAsync();

        // Only the container with a restart policy runs again, maybe at another address; the other one is gone.
        await WaitForEndpointsAsync("web", await EndpointsOfAsync([comesBack], 80), TimeSpan.FromSeconds(10));
        Assert.Contains(_logs.Entries, entry => entry.Message.Contains("reachable again", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NoSocket_DiscoveryIsOff_WithOneLogLine()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"mesh-test-no-docker-{Guid.NewGuid():n}.sock");

        await StartDiscoveryAsync(missing);

        var entry = Assert.Single(_logs.Entries, e => e.Category.EndsWith(nameof(DockerDiscovery), StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, entry.Level);
        Assert.Contains($"no Docker socket at {missing}", entry.Message);
        Assert.Empty(Service("web").Endpoints);
    }

    [Fact]
    public async Task SocketPathThatIsAFile_IsOneClearError()
    {
        var notASocket = _configFile + ".sock";
        await File.WriteAllTextAsync(notASocket, "not a socket");
        try
        {
            await StartDiscoveryAsync(notASocket);
        }
        finally
        {
            File.Delete(notASocket);
        }

        var entry = Assert.Single(_logs.Entries, e => e.Category.EndsWith(nameof(DockerDiscovery), StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains("is not a Unix socket", entry.Message);
    }

    [Fact]
    public async Task Agent_AsItsUnprivilegedUser_SaysOnceThatItMayNotOpenTheSocket_AndServesTheRest()
    {
        await File.WriteAllTextAsync(_configFile, $"discovery: {{ docker: {{ socket: {_docker.Socket} }} }}\n");
        File.SetUnixFileMode(_configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        using (var unprivileged = AgentSandbox.Create("docker-user"))
        {
            var agent = await unprivileged.StartAgentAsync("--config", _configFile);
            await WaitForOutputAsync(agent, "may not open the Docker socket");

            Assert.Single(agent.Output.Split('\n'), line => line.Contains("Docker discovery", StringComparison.Ordinal));
            Assert.Contains("--run-as root", agent.Output);
            Assert.Equal(0, (await unprivileged.StatusAsync()).ExitCode);
        }
        using var privileged = AgentSandbox.Create("docker-root");
        var root = await privileged.StartAgentAsync("--config", _configFile, "--run-as", "root");

        await WaitForOutputAsync(root, $"Docker discovery following {_docker.Socket}");
    }

    private static async Task WaitForOutputAsync(AgentProcess agent, string text)
    {
        var clock = Stopwatch.StartNew();
        while (!agent.Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the agent did not print '{text}' within 10 s:{Environment.NewLine}{agent.Output}");
            await Task.Delay(50);
        }
    }

    private async Task StartDiscoveryAsync(string socket)
    {
        await File.WriteAllTextAsync(_configFile, $"""
            discovery:
              docker: {"{"} socket: {socket} {"}"}
            services:
              - {"{"} name: web, address: 10.96.0.10, port: 80, selector: {"{"} mesh.service: {_label} {"}"} {"}"}
              - {"{"} name: other, address: 10.96.0.11, port: 80, selector: {"{"} mesh.service: other {"}"} {"}"}
            """);
        var loggerFactory = LoggerFactory.Create(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Debug));
        _config = AgentConfig.Open(new FileInfo(_configFile), loggerFactory);
        _discovery = new DockerDiscovery(_config, loggerFactory.CreateLogger<DockerDiscovery>());
        await _discovery.StartAsync(CancellationToken.None);
    }

    private async Task<string> RunAsync(string options, string command)
    {
        var id = await _docker.RunAsync(options, command);
        _containers.Add(id);
        return id;
    }

    private async Task<IReadOnlyList<IPEndPoint>> EndpointsOfAsync(IEnumerable<string> containers, int port)
    {
        var endpoints = new List<IPEndPoint>();
        foreach (var container in containers)
        {
            endpoints.Add(new IPEndPoint(IPAddress.Parse(await _docker.AddressOfAsync(container)), port));
        }
        return endpoints;
    }

    /// <summary>Runs a docker command and checks that the service's endpoints follow within a second.</summary>
    private async Task AfterAsync(string dockerCommand, string service, IReadOnlyList<IPEndPoint> expected)
    {
        await _docker.DockerAsync(dockerCommand);
        await WaitForEndpointsAsync(service, expected);
    }

    private async Task WaitForEndpointsAsync(string service, IReadOnlyList<IPEndPoint> expected, TimeSpan? within = null)
    {
        var wanted = expected.Select(e => e.ToString()).Order(StringComparer.Ordinal).ToList();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var actual = Service(service).Endpoints.Select(e => e.ToString()).Order(StringComparer.Ordinal).ToList();
            if (actual.SequenceEqual(wanted))
            {
                return;
            }
            if (clock.Elapsed > (within ?? Within))
            {
                Assert.Fail($"{service}: endpoints [{string.Join(", ", actual)}] after {clock.ElapsedMilliseconds} ms, expected [{string.Join(", ", wanted)}]");
            }
            await Task.Delay(10);
        }
    }

    private ServiceConfig Service(string name) => _config!.Current.Services.Single(s => s.Name == name);
}
