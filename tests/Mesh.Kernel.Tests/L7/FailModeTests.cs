using System.Diagnostics;
using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Redirector.Interop;
using Mesh.Redirector.Maps;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// When the node proxy is gone (the agent killed with -9 mid-load), each diverted service follows
/// its failMode: open connects to the service itself within a second, closed refuses at once; a
/// restarted agent takes over the pinned programs in place; SIGTERM drains in-flight requests.
/// </summary>
public sealed class FailModeTests(ITestOutputHelper output)
{
    private static readonly IPAddress ServiceAddress = IPAddress.Parse("127.0.0.60");

    [Fact]
    public async Task FailOpen_AgentKilled_RequestsReachTheServiceDirectlyWithin1s_AndRestartDivertsAgain()
    {
        await using var upstream = await SlowUpstream.StartAsync(ServiceAddress);
        using var sandbox = AgentSandbox.Create("failopen");
        var configFile = await WriteConfigAsync(sandbox, upstream.EndPoint, "open");
        try
        {
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();
            Assert.True(await ProxiedAsync(client, upstream.EndPoint), "before the kill, requests go through the proxy");

            await agent.KillHardAsync();
            var clock = Stopwatch.StartNew();
            var failures = 0;
            while (true)
            {
                try
                {
                    Assert.False(await ProxiedAsync(client, upstream.EndPoint), "nothing proxies after the kill");
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
                Assert.False(await ProxiedAsync(client, upstream.EndPoint));
            }
            Assert.True(PinnedDivertCounters(sandbox).FailedOpen >= 21);

            sandbox.LeaveCgroup();
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            Assert.True(await ProxiedAsync(client, upstream.EndPoint), "the restarted agent diverts again");
            var attached = await BpfTool.CgroupProgramsAsync(sandbox.CgroupPath);
            Assert.Equal(attached.Count, attached.Select(program => program.Split(' ').Last()).Distinct().Count());
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task FailClosed_AgentKilled_ConnectsAreRefusedWithinASecond_InUnder10Ms()
    {
        await using var upstream = await SlowUpstream.StartAsync(ServiceAddress);
        using var sandbox = AgentSandbox.Create("failclosed");
        var configFile = await WriteConfigAsync(sandbox, upstream.EndPoint, "closed");
        try
        {
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();
            Assert.True(await ProxiedAsync(client, upstream.EndPoint));

            await agent.KillHardAsync();
            var clock = Stopwatch.StartNew();
            while (RawConnect.Errno(upstream.EndPoint) != RawConnect.Eperm)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"connects are not refused {clock.Elapsed.TotalMilliseconds:F0} ms after the kill");
                await Task.Delay(20);
            }
            var refusedAfter = clock.Elapsed;
            var timings = new List<double>();
            for (var i = 0; i < 21; i++)
            {
                var attempt = Stopwatch.StartNew();
                Assert.Equal(RawConnect.Eperm, RawConnect.Errno(upstream.EndPoint));
                timings.Add(attempt.Elapsed.TotalMilliseconds);
            }
            timings.Sort();
            output.WriteLine($"fail closed: EPERM {refusedAfter.TotalMilliseconds:F0} ms after kill -9; each refusal median {timings[10]:F3} ms, max {timings[^1]:F3} ms");
            Assert.True(timings[10] < 10, $"median refusal {timings[10]:F3} ms");
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync($"http://{upstream.EndPoint}/"));
            Assert.True(PinnedDivertCounters(sandbox).FailedClosed >= 22);
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task Sigterm_DrainsInFlightRequest_NewConnectionsFollowFailMode_ThenDetachesEverything()
    {
        await using var upstream = await SlowUpstream.StartAsync(ServiceAddress);
        using var sandbox = AgentSandbox.Create("drain");
        var configFile = await WriteConfigAsync(sandbox, upstream.EndPoint, "closed");
        try
        {
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();
            var inFlight = client.GetAsync($"http://{upstream.EndPoint}/slow");
            await Task.Delay(300);

            var stopping = agent.StopAsync();
            var clock = Stopwatch.StartNew();
            while (RawConnect.Errno(upstream.EndPoint) != RawConnect.Eperm)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "new connections do not follow the fail mode while the agent drains");
                await Task.Delay(20);
            }
            using var slow = await inFlight;
            Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
            Assert.Equal("upstream", await slow.Content.ReadAsStringAsync());
            Assert.Equal(0, await stopping);

            sandbox.LeaveCgroup();
            await sandbox.AssertNothingLeftAsync();
            Assert.Equal(0, RawConnect.Errno(upstream.EndPoint)); // nothing attached: the service is reached directly
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    private static async Task<string> WriteConfigAsync(AgentSandbox sandbox, IPEndPoint service, string failMode)
    {
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        // No endpoints: the service runs where clients dial, so failing open reaches it directly.
        await File.WriteAllTextAsync(configFile, $$"""
            agent:
              drainTimeout: 5s
            services:
              - name: reports
                address: {{service.Address}}
                port: {{service.Port}}
                failMode: {{failMode}}
                rules:
                  - name: all
                    filters:
                      - type: ResponseHeaderModifier
                        responseHeaderModifier: { set: [{ name: x-mesh-proxied, value: "1" }] }
            """);
        return configFile;
    }

    /// <summary>One request on a new connection; whether the node proxy served it.</summary>
    private static async Task<bool> ProxiedAsync(HttpClient client, IPEndPoint service)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{service}/");
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream", await response.Content.ReadAsStringAsync());
        return response.Headers.Contains("x-mesh-proxied");
    }

    private static DivertCounterSnapshot PinnedDivertCounters(AgentSandbox sandbox)
    {
        using var counters = BpfMap.OpenPinned(Path.Combine(sandbox.PinDirectory, MapNames.DivertCounters));
        return DivertCounterReader.Read(counters);
    }
}
