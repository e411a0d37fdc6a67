using System.Diagnostics;
using System.Net;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// When the node proxy is gone (its process or the whole agent killed with -9 mid-load), each diverted service
/// follows its failMode: open connects to the service itself within a second, closed refuses at once; the agent
/// starts a killed proxy again, a restarted agent takes over the pinned programs in place; SIGTERM drains in-flight
/// requests.
/// </summary>
public sealed class FailModeTests(ITestOutputHelper output)
{
    private static readonly IPAddress ServiceAddress = IPAddress.Parse("127.0.0.60");

    [Fact]
    public async Task FailOpen_AgentKilled_RequestsReachTheServiceDirectlyWithin1s_AndRestartDivertsAgain()
    {
        await using var node = await FailModeNode.StartAsync("failopen", "open");
        Assert.True(await node.ProxiedAsync(), "before the kill, requests go through the proxy");

        await node.Agent.KillHardAsync();
        var clock = Stopwatch.StartNew();
        var failures = 0;
        while (true)
        {
            try
            {
                Assert.False(await node.ProxiedAsync(), "nothing proxies after the kill");
                break;
            }
            catch (HttpRequestException)
            {
                failures++;
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"requests still fail {clock.Elapsed.TotalMilliseconds:F0} ms after the kill");
                await Task.Delay(20);
            }
        }
        var recovered = clock.Elapsed;
        output.WriteLine($"fail open: direct requests succeed {recovered.TotalMilliseconds:F0} ms after kill -9 ({failures} failed meanwhile)");
        for (var i = 0; i < 20; i++)
        {
            Assert.False(await node.ProxiedAsync());
        }
        Assert.True(node.PinnedDivertCounters().FailedOpen >= 21);

        await node.RestartAgentAsync();
        Assert.True(await node.ProxiedAsync(), "the restarted agent diverts again");
        var attached = await BpfTool.CgroupProgramsAsync(node.Sandbox.CgroupPath);
        Assert.Equal(attached.Count, attached.Select(program => program.Split(' ').Last()).Distinct().Count());
    }

    /// <remarks>
    /// Which of the two serves first after the kill is a race: the agent starts a new proxy 100 ms after the old one
    /// exits, and the connect programs fail open once the watchdog has missed it for 650 ms. Either way requests must
    /// succeed again within a second, and the new proxy must take the traffic back.
    /// </remarks>
    [Fact]
    public async Task FailOpen_ProxyProcessKilled_RequestsSucceedWithin1s_AndTheAgentStartsANewProxy()
    {
        await using var node = await FailModeNode.StartAsync("proxykill", "open");
        var proxyPid = node.Agent.NodeProxyPid() ?? throw new InvalidOperationException($"no node proxy process under agent {node.Agent.Pid}");
        Assert.True(await node.ProxiedAsync(), "before the kill, requests go through the proxy");

        Process.GetProcessById(proxyPid).Kill();
        var clock = Stopwatch.StartNew();
        TimeSpan? firstSuccess = null;
        var (failed, direct, proxied) = (0, 0, false);
        while (!proxied && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                proxied = await node.ProxiedAsync();
                firstSuccess ??= clock.Elapsed;
                direct += proxied ? 0 : 1;
            }
            catch (HttpRequestException error)
            {
                failed++;
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1),
                    $"requests still fail {clock.Elapsed.TotalMilliseconds:F0} ms after the kill ({error.Message}); {direct} went direct before; agent log:{Environment.NewLine}{node.Agent.Output}");
            }
            await Task.Delay(20);
        }

        output.WriteLine($"proxy kill -9: {failed} request(s) failed, the first success {firstSuccess?.TotalMilliseconds:F0} ms after the kill, "
            + $"{direct} went direct (fail open), proxied again {clock.Elapsed.TotalMilliseconds:F0} ms after the kill");
        Assert.True(firstSuccess < TimeSpan.FromSeconds(1), $"first success {firstSuccess?.TotalMilliseconds:F0} ms after the kill");
        Assert.True(proxied, "the proxy did not serve again within 20 s of its kill");
        var restarted = node.Agent.NodeProxyPid();
        Assert.True(restarted is not null && restarted != proxyPid, $"node proxy pid {restarted} after killing {proxyPid}");
        var report = await node.Sandbox.StatusAsync();
        Assert.Equal(1UL, StatusTable.Counter(report.StdOut, "node proxy restarts"));
        Assert.False(node.Agent.HasExited, "the agent must outlive its proxy");
    }

    [Fact]
    public async Task FailClosed_AgentKilled_ConnectsAreRefusedWithinASecond_InUnder10Ms()
    {
        await using var node = await FailModeNode.StartAsync("failclosed", "closed");
        Assert.True(await node.ProxiedAsync());

        await node.Agent.KillHardAsync();
        var clock = Stopwatch.StartNew();
        while (RawConnect.Errno(node.Service) != RawConnect.Eperm)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"connects are not refused {clock.Elapsed.TotalMilliseconds:F0} ms after the kill");
            await Task.Delay(20);
        }
        var refusedAfter = clock.Elapsed;
        var timings = new List<double>();
        for (var i = 0; i < 21; i++)
        {
            var attempt = Stopwatch.StartNew();
            Assert.Equal(RawConnect.Eperm, RawConnect.Errno(node.Service));
            timings.Add(attempt.Elapsed.TotalMilliseconds);
        }
        timings.Sort();

        output.WriteLine($"fail closed: EPERM {refusedAfter.TotalMilliseconds:F0} ms after kill -9; each refusal median {timings[10]:F3} ms, max {timings[^1]:F3} ms");
        Assert.True(timings[10] < 10, $"median refusal {timings[10]:F3} ms");
        await Assert.ThrowsAsync<HttpRequestException>(() => node.Client.GetAsync($"http://{node.Service}/"));
        Assert.True(node.PinnedDivertCounters().FailedClosed >= 22);
    }

    [Fact]
    public async Task Sigterm_DrainsInFlightRequest_NewConnectionsFollowFailMode_ThenDetachesEverything()
    {
        await using var node = await FailModeNode.StartAsync("drain", "closed");
        var inFlight = node.Client.GetAsync($"http://{node.Service}/slow");
        await Task.Delay(300);

        var stopping = node.Agent.StopAsync();
        var clock = Stopwatch.StartNew();
        while (RawConnect.Errno(node.Service) != RawConnect.Eperm)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "new connections do not follow the fail mode while the agent drains");
            await Task.Delay(20);
        }
        using var slow = await inFlight;
        Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
        Assert.Equal("upstream", await slow.Content.ReadAsStringAsync());
        Assert.Equal(0, await stopping);

        node.Sandbox.LeaveCgroup();
        await node.Sandbox.AssertNothingLeftAsync();
        Assert.Equal(0, RawConnect.Errno(node.Service)); // nothing attached: the service is reached directly
    }

    /// <summary>
    /// One service with HTTP policy and the given fail mode, a slow upstream where clients dial it (no endpoints, so
    /// failing open reaches it directly), an agent serving it, and this test in the agent's cgroup.
    /// </summary>
    private sealed class FailModeNode : IAsyncDisposable
    {
        private readonly SlowUpstream _upstream;
        private readonly string _configFile;

        private FailModeNode(SlowUpstream upstream, AgentSandbox sandbox, string configFile)
        {
            _upstream = upstream;
            Sandbox = sandbox;
            _configFile = configFile;
        }

        public AgentSandbox Sandbox { get; }

        public AgentProcess Agent { get; private set; } = null!;

        public HttpClient Client { get; } = L7Node.Client();

        public IPEndPoint Service => _upstream.EndPoint;

        public static async Task<FailModeNode> StartAsync(string label, string failMode)
        {
            var upstream = await SlowUpstream.StartAsync(ServiceAddress);
            var sandbox = AgentSandbox.Create(label);
            var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
            var node = new FailModeNode(upstream, sandbox, configFile);
            try
            {
                await File.WriteAllTextAsync(configFile, $$"""
                    agent:
                      drainTimeout: 5s
                    services:
                      - name: reports
                        address: {{upstream.EndPoint.Address}}
                        port: {{upstream.EndPoint.Port}}
                        failMode: {{failMode}}
                        rules:
                          - name: all
                            filters:
                              - type: ResponseHeaderModifier
                                responseHeaderModifier: { set: [{ name: x-mesh-proxied, value: "1" }] }
                    """);
                await node.RestartAgentAsync();
                return node;
            }
            catch
            {
                await node.DisposeAsync();
                throw;
            }
        }

        /// <summary>Starts an agent (again) on the config, from outside the cgroup, then enters it.</summary>
        public async Task RestartAgentAsync()
        {
            Sandbox.LeaveCgroup();
            Agent = await Sandbox.StartAgentAsync("--config", _configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            Sandbox.EnterCgroup();
        }

        /// <summary>One request on a new connection; whether the node proxy served it.</summary>
        public async Task<bool> ProxiedAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Service}/");
            request.Headers.ConnectionClose = true;
            using var response = await Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("upstream", await response.Content.ReadAsStringAsync());
            return response.Headers.Contains("x-mesh-proxied");
        }

        public DivertCounterSnapshot PinnedDivertCounters()
        {
            using var counters = BpfMap.OpenPinned(Path.Combine(Sandbox.PinDirectory, MapNames.DivertCounters));
            return DivertCounterReader.Read(counters);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            try
            {
                Sandbox.Dispose();
            }
            finally
            {
                File.Delete(_configFile);
                await _upstream.DisposeAsync();
            }
        }
    }
}
