using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// `mesh flows` shows what the kernel did, as flow events from its ring buffer that the agent
/// resolved: a spliced connection, a diverted one, a connect refused by an L4 rule and a packet
/// dropped by XDP, each with its addresses, verdict and service or rule name.
/// </summary>
public sealed class FlowsCommandTests
{
    private static readonly IPEndPoint DivertedService = new(IPAddress.Parse("127.0.0.50"), 8080);
    private const int DeniedLocalPort = 9;
    private const int DroppedUdpPort = 7777;

    [Fact]
    public async Task Flows_AfterEachKindOfFlow_ShowsEachWithAddressesVerdictAndName()
    {
        using var netns = TestNetworkNamespace.Create();
        using var sandbox = AgentSandbox.Create("flows");
        var plainPort = LoopbackPair.FreePort();
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $"""
                services:
                  - name: plain
                    address: 127.0.0.1
                    port: {plainPort}
                  - name: web
                    address: {DivertedService.Address}
                    port: {DivertedService.Port}
                    default: deny
                l4:
                  interfaces:
                    - name: {netns.HostLink}
                      mode: native
                  rules:
                    - name: no-discard
                      action: deny
                      to: 127.0.0.1
                      protocol: tcp
                      ports: {DeniedLocalPort}
                    - name: no-udp-7777
                      action: deny
                      to: {netns.HostAddress}
                      protocol: udp
                      ports: {DroppedUdpPort}
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());

            // From outside the workload cgroup, so only XDP judges these packets.
            var flood = netns.StartPython($$"""
                import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                for i in range(2000):
                    s.sendto(b"x" * 32, ("{{netns.HostAddress}}", {{DroppedUdpPort}}))
                print("sent", flush=True)
                """);
            Assert.Equal("sent", await flood.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)));

            sandbox.EnterCgroup();
            // Both ends inside the cgroup: an accepted socket belongs to its listener's cgroup.
            using var plain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            plain.Bind(new IPEndPoint(IPAddress.Loopback, plainPort));
            plain.Listen();
            using (var pair = await LoopbackPair.ConnectAsync(plain))
            {
                await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, SocketStreams.RandomBytes(1024));
            }
            Assert.Equal(RawConnect.Eperm, RawConnect.Errno(new IPEndPoint(IPAddress.Loopback, DeniedLocalPort)));
            using (var client = new HttpClient())
            {
                Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"http://{DivertedService}/")).StatusCode);
            }
            sandbox.LeaveCgroup();

            var flows = await FlowsAsync(sandbox, "--output", "json");

            var spliced = Assert.Single(flows, flow => flow.Verdict == "spliced" && flow.Destination == $"127.0.0.1:{plainPort}");
            Assert.Equal(("tcp", "plain"), (spliced.Protocol, spliced.Service));
            var diverted = Assert.Single(flows, flow => flow.Verdict == "diverted");
            Assert.Equal((DivertedService.ToString(), "web"), (diverted.Destination, diverted.Service));
            Assert.StartsWith("127.0.0.1:", diverted.Source, StringComparison.Ordinal);
            var denied = Assert.Single(flows, flow => flow.Verdict == "denied");
            Assert.Equal(($"127.0.0.1:{DeniedLocalPort}", "no-discard", "tcp"), (denied.Destination, denied.Rule, denied.Protocol));
            var dropped = flows.Where(flow => flow.Verdict == "dropped").ToList();
            Assert.NotEmpty(dropped);
            Assert.All(dropped, flow => Assert.Equal(($"{netns.HostAddress}:{DroppedUdpPort}", "no-udp-7777", "udp"), (flow.Destination, flow.Rule, flow.Protocol)));
            Assert.All(dropped, flow => Assert.StartsWith($"{netns.NamespaceAddress}:", flow.Source, StringComparison.Ordinal));

            Assert.All(await FlowsAsync(sandbox, "--output", "json", "--verdict", "denied"), flow => Assert.Equal("denied", flow.Verdict));
            Assert.All(await FlowsAsync(sandbox, "--output", "json", "--service", "web"), flow => Assert.Equal("web", flow.Service));
            var text = await MeshCli.RunAsync("flows", "--pin-dir", sandbox.PinDirectory, "--verdict", "diverted");
            Assert.Contains($"DIVERTED  tcp   ", text.StdOut, StringComparison.Ordinal);
            Assert.Contains($"-> {DivertedService}  service web", text.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task Flows_FromNonRootUser_IsRefusedBySocketPermissions()
    {
        using var sandbox = AgentSandbox.Create("flows-nonroot");
        await sandbox.StartAgentAsync("--proxy-port", LoopbackPair.FreePort().ToString());
        string[] nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

        var result = await MeshCli.RunAsync(["flows", "--pin-dir", sandbox.PinDirectory], nobody, MeshCli.DefaultTimeout);

        RunErrorTests.AssertOneLineError(result, "permission denied", "run it as root");
    }

    [Fact]
    public async Task Flows_WithNoAgent_OneLineError()
    {
        var result = await MeshCli.RunAsync("flows", "--pin-dir", "/sys/fs/bpf/mesh-test-no-agent-here");

        RunErrorTests.AssertOneLineError(result, "no Mesh agent is listening");
    }

    private static async Task<List<Flow>> FlowsAsync(AgentSandbox sandbox, params string[] arguments)
    {
        var result = await MeshCli.RunAsync(["flows", "--pin-dir", sandbox.PinDirectory, .. arguments], wrapper: null, MeshCli.DefaultTimeout);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonSerializer.Deserialize<Flow>(line, new JsonSerializerOptions(JsonSerializerDefaults.Web))!)
            .ToList();
    }

    /// <summary>One line of `mesh flows --output json`, read as a user's script would.</summary>
    private sealed record Flow(DateTimeOffset Time, string Verdict, string Protocol, string Source, string Destination, string? Service, string? Rule);
}
