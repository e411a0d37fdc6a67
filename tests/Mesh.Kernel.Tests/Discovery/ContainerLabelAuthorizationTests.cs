using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Kernel.Tests.Workloads;
using Mesh.Testing;
using Mesh.Testing.Docker;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// A container's Docker labels are its identity for authorization: with `mesh run` serving a cgroup its containers
/// run under (docker run --cgroup-parent), a client container labelled app=web dials the service address from inside
/// its own namespace and gets 200 where `source: { labels: { app: web } }` is allowed, one labelled app=other gets 403
/// naming its own source; including a container whose labels reached the agent after its namespace was served.
/// </summary>
public sealed class ContainerLabelAuthorizationTests(DockerDaemonFixture fixture) : IClassFixture<DockerDaemonFixture>
{
    private static readonly IPEndPoint Api = new(IPAddress.Parse("10.96.78.10"), 8080);
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(5);

    private readonly TestDockerDaemon _docker = fixture.Daemon;

    [Fact]
    public async Task ClientContainers_AreAuthorizedByTheirLabels_AlsoWhenTheLabelsComeAfterTheWorkload()
    {
        await using var upstream = await WorkloadHttpPolicyTests.StartUpstreamAsync(_ => 200, "api");
        using var sandbox = AgentSandbox.Create("labels");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        var containers = new List<string>();
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                discovery: { docker: { socket: {{_docker.Socket}} } }
                services:
                  - name: api
                    address: {{Api.Address}}
                    port: {{Api.Port}}
                    endpoints: [{{upstream.Urls}}]
                    rules:
                      - name: reports
                        matches: [{ path: { type: PathPrefix, value: /reports } }]
                        authorization: { allowFrom: [other-clients] }
                      - name: web-only
                        authorization: { allowFrom: [web-clients] }
                  - { name: web-clients, address: 10.96.78.11, port: 8080, source: { labels: { app: web } } }
                  - { name: other-clients, address: 10.96.78.12, port: 8080, source: { labels: { app: other } } }
                """);
            // Paused before the agent starts: discovery skips a paused container, the cgroup watcher still finds its
            // namespace, so its labels come only at unpause, after it is served.
            var web = await RunAsync(sandbox, containers, "app=web");
            await _docker.DockerAsync($"pause {web}");
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString(), "--run-as", "root");
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            var webCgroup = Path.Combine(sandbox.CgroupPath, web);
            Assert.NotNull(await admin.WaitServedAsync(webCgroup, Within));
            Assert.Matches($"Workload {Regex.Escape(webCgroup)}: the node proxy listens in its namespace .*; labels: none", agent.Output);

            await _docker.DockerAsync($"unpause {web}");
            await WaitForOutputAsync(agent, $"Workload {webCgroup}: labels now app=web");
            Assert.Equal(["app=web"], (await admin.StatusAsync()).Workloads!.Single(w => w.Cgroup == webCgroup).Labels);
            Assert.Matches($@"{Regex.Escape(webCgroup)} .* app=web", (await sandbox.StatusAsync()).StdOut);
            Assert.Equal("HTTP/1.1 200 OK", await StatusLineWithinAsync(web, "/orders", "HTTP/1.1 200 OK"));

            var other = await RunAsync(sandbox, containers, "app=other");
            Assert.NotNull(await admin.WaitServedAsync(Path.Combine(sandbox.CgroupPath, other), Within));
            Assert.Equal("HTTP/1.1 200 OK", await StatusLineWithinAsync(other, "/reports", "HTTP/1.1 200 OK"));
            var denied = await RequestAsync(other, "/orders");
            Assert.StartsWith("HTTP/1.1 403 Forbidden", denied);
            Assert.Contains("x-mesh-deny-reason: source other-clients is not allowed by route api/web-only", denied, StringComparison.OrdinalIgnoreCase);
            var allowedForWeb = await RequestAsync(web, "/orders");
            Assert.EndsWith("api", allowedForWeb);
            Assert.StartsWith("HTTP/1.1 403 Forbidden", await RequestAsync(web, "/reports"));
        }
        finally
        {
            foreach (var container in containers)
            {
                await ProcessRunner.TryRunAsync("docker", $"-H unix://{_docker.Socket} rm -f {container}");
            }
            RemoveV1CgroupParents(sandbox.Name);
            File.Delete(configFile);
        }
    }

    /// <summary>A container of the test image sleeping under the sandbox's cgroup (in every hierarchy), with one label.</summary>
    private async Task<string> RunAsync(AgentSandbox sandbox, List<string> containers, string label)
    {
        var id = await _docker.RunAsync($"--cgroup-parent /{sandbox.Name} -l {label}", "sleep 600");
        containers.Add(id);
        return id;
    }

    /// <summary>
    /// One HTTP/1.0 request from inside the container (busybox nc), answered in full: status line, headers and body.
    /// The request side stays open a second (the server closes first): Kestrel takes a client's FIN for an abort and
    /// drops the answer (dotnet/aspnetcore#13188), so nc's half-close right after the request would get nothing.
    /// </summary>
    private Task<string> RequestAsync(string container, string path) =>
        _docker.DockerAsync($"exec {container} busybox sh -c \"(printf 'GET {path} HTTP/1.0\\r\\nHost: api\\r\\n\\r\\n'; busybox sleep 1) | busybox nc {Api.Address} {Api.Port}\"");

    /// <summary>The status line of GET <paramref name="path"/>, asked again until it is <paramref name="expected"/> or <see cref="Within"/> passed.</summary>
    private async Task<string> StatusLineWithinAsync(string container, string path, string expected)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var statusLine = (await RequestAsync(container, path)).Split('\n')[0].TrimEnd('\r');
            if (statusLine == expected || clock.Elapsed > Within)
            {
                return statusLine;
            }
            await Task.Delay(50);
        }
    }

    private static async Task WaitForOutputAsync(AgentProcess agent, string text)
    {
        var clock = Stopwatch.StartNew();
        while (!agent.Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < Within, $"the agent did not print '{text}' within {Within.TotalSeconds} s:{Environment.NewLine}{agent.Output}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// docker run --cgroup-parent makes the parent in each cgroup v1 hierarchy too (the v2 one is the sandbox's, which
    /// it removes); the daemon removes only the containers' own cgroups, so the parents go here.
    /// </summary>
    private static void RemoveV1CgroupParents(string name)
    {
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var parent = Path.Combine(hierarchy, name);
            if (Directory.Exists(parent) && !File.Exists(Path.Combine(hierarchy, "cgroup.controllers")))
            {
                Directory.Delete(parent);
            }
        }
    }
}
