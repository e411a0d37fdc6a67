using System.Diagnostics;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Kernel.Tests.Workloads;
using Mesh.Testing;
using Mesh.Testing.Docker;
using Mesh.Testing.Telemetry;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// The README's compose demo as a user runs it where nothing can be pulled: docker-compose.yml with the offline
/// override, built and started by docker-compose 1.29 on a Docker daemon of the test's own whose containers' cgroups
/// are below the agent's, and `mesh run` on the host with the demo's config.
/// </summary>
public sealed class ComposeDemoTests(ITestOutputHelper output)
{
    private const string DemoConfig = "config/examples/l7-docker-compose.yaml";
    private const string DemoDockerSocket = "/var/run/docker.sock";
    private const string DemoOtlpEndpoint = "http://127.0.0.1:4318";
    private static readonly TimeSpan CallsWithin = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ComposeUp_Offline_ClientGets200And403ThroughTheNodeProxy_SplicedBytesAndTraces_AndDownLeavesNothing()
    {
        using var busybox = SampleBusybox.Provide();
        using var sandbox = AgentSandbox.Create("compose");
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var docker = await TestDockerDaemon.StartAsync(cgroupParent: "/" + Path.GetRelativePath(Cgroup.FindV2Root(), sandbox.CgroupPath));
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            // The demo's config as it is, but for the two addresses of this machine's parts: the test's daemon and receiver.
            await File.WriteAllTextAsync(configFile, ReplaceOnce(ReplaceOnce(await File.ReadAllTextAsync(RepositoryFiles.FullPath(DemoConfig)),
                DemoDockerSocket, docker.Socket), DemoOtlpEndpoint, receiver.HttpEndpoint.ToString().TrimEnd('/')));
            File.SetUnixFileMode(configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--run-as", "root", "--proxy-port", LoopbackPair.FreePort().ToString());
            await using var project = new ComposeProject(docker.Socket, ["docker-compose.yml", "docker-compose.offline.yml"]);

            var up = await project.UpAsync();

            Assert.True(up.ExitCode == 0, up.ToString());
            var client = $"{sandbox.CgroupPath}/{await project.ContainerIdAsync("client")}";
            var backend = $"{sandbox.CgroupPath}/{await project.ContainerIdAsync("backend")}";
            using (var admin = new AgentAdmin(sandbox.PinDirectory))
            {
                Assert.True(await admin.WaitServedAsync(client, TimeSpan.FromSeconds(5)) is not null, $"the client's cgroup {client} is not served:{Environment.NewLine}{agent.Output}");
                Assert.True(await admin.WaitListedAsync(backend, TimeSpan.FromSeconds(5)) is not null, $"the backend's cgroup {backend} is not listed:{Environment.NewLine}{agent.Output}");
            }
            var logs = await WaitForLogLinesAsync(project, "client", ["GET / -> 200", "GET /admin -> 403"]);
            Assert.True(logs.Contains("GET / -> 200") && logs.Contains("GET /admin -> 403"),
                $"the client did not print both answers within {CallsWithin.TotalSeconds} s:{Environment.NewLine}{logs}{Environment.NewLine}agent:{Environment.NewLine}{agent.Output}");
            // Each 200 carried the page over spliced connections: client to the proxy's listener in its namespace, proxy to backend.
            var page = new FileInfo(RepositoryFiles.FullPath("config/examples/compose/backend/www/index.html")).Length;
            var status = await sandbox.StatusAsync();
            var redirected = StatusTable.Counter(status.StdOut, "bytes redirected");
            output.WriteLine($"client:{Environment.NewLine}{logs}{Environment.NewLine}{status.StdOut}");
            Assert.True(redirected >= (ulong)page, $"mesh status shows {redirected} bytes redirected, less than one page ({page} bytes)");
            // The backend container, found by its labels, is the service's endpoint at its address on the project's network.
            var backendAddress = (await docker.DockerAsync($"inspect -f {{{{range.NetworkSettings.Networks}}}}{{{{.IPAddress}}}}{{{{end}}}} {Path.GetFileName(backend)}")).Trim();
            Assert.Contains($"{backendAddress}:8080", status.StdOut);
            // Both verdicts were the node proxy's, and traced: the backend alone would answer /admin with 404.
            var allowed = await receiver.WaitForSpansAsync(span => IsBackendServerSpan(span, "allowed", 200), 1);
            var denied = await receiver.WaitForSpansAsync(span => IsBackendServerSpan(span, "denied", 403), 1);
            output.WriteLine($"traces: {allowed.Count} allowed and {denied.Count} denied server spans of service backend");

            var down = await project.DownAsync();

            Assert.True(down.ExitCode == 0, down.ToString());
            Assert.Equal("", (await docker.DockerAsync("ps -aq")).Trim());
            Assert.DoesNotContain("mesh-sample-", await docker.DockerAsync("images --format {{.Repository}}"));
            Assert.DoesNotContain(project.Name, await docker.DockerAsync("network ls --format {{.Name}}"));
            Assert.False(Directory.Exists(client) || Directory.Exists(backend), "a container's cgroup outlived docker-compose down");
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    private static string ReplaceOnce(string text, string value, string replacement)
    {
        Assert.True(text.Split(value).Length == 2, $"{DemoConfig} names {value} not exactly once");
        return text.Replace(value, replacement, StringComparison.Ordinal);
    }

    private static bool IsBackendServerSpan(ReceivedSpan span, string verdict, long status) =>
        span.Kind == Mesh.Testing.Telemetry.Otlp.Trace.Span.Types.SpanKind.Server
        && Equals(span.Attribute("mesh.service"), "backend")
        && Equals(span.Attribute("mesh.verdict"), verdict)
        && Equals(span.Attribute("http.response.status_code"), status);

    /// <summary>The service's logs once they hold every line of <paramref name="wanted"/>, or as they are after <see cref="CallsWithin"/>.</summary>
    private static async Task<string> WaitForLogLinesAsync(ComposeProject project, string service, IReadOnlyList<string> wanted)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var logs = await project.LogsAsync(service);
            if (wanted.All(line => logs.Contains(line, StringComparison.Ordinal)) || clock.Elapsed > CallsWithin)
            {
                return logs;
            }
            await Task.Delay(500);
        }
    }
}
