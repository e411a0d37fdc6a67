using Mesh.Agent.Hardening;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// `mesh run` as a real process: a crash (kill -9) leaves the maps pinned so spliced connections keep
/// flowing, the next start reuses them, and a clean stop (SIGTERM, SIGINT) leaves nothing behind.
/// </summary>
public sealed class AgentProcessTests
{
    /// <summary>Below the reader's receive buffer, so the splice never hands these transfers to TCP to hold the sender back.</summary>
    private const int Size = 64 * 1024;

    [Fact]
    public async Task Agent_StartedByRoot_RunsAsMeshUserWithOnlyBpfNetAdminPerfmonAndNamespaceEntry()
    {
        using var sandbox = AgentSandbox.Create("privileges");
        var agent = await sandbox.StartAgentAsync();

        var status = ProcStatus(agent.Pid);
        var meshUid = File.ReadLines("/etc/passwd").Select(line => line.Split(':')).Single(fields => fields[0] == "mesh")[2];

        Assert.Equal([meshUid, meshUid, meshUid, meshUid], status["Uid"].Split('\t', StringSplitOptions.RemoveEmptyEntries));
        // CAP_NET_ADMIN (12), CAP_SYS_PTRACE (19) and CAP_SYS_ADMIN (21) to enter workloads' namespaces, CAP_PERFMON (38),
        // CAP_BPF (39): nothing else, in any set, and none to get back.
        const ulong Kept = (1UL << 12) | (1UL << 19) | (1UL << 21) | (1UL << 38) | (1UL << 39);
        foreach (var set in new[] { "CapEff", "CapPrm", "CapBnd", "CapAmb" })
        {
            Assert.True(Kept == Convert.ToUInt64(status[set], 16), $"{set} is {status[set]}, expected {Kept:x16}");
        }
        // Unprivileged, it still reloads, reports and serves: status reads the maps it pinned.
        var report = await sandbox.StatusAsync();
        Assert.True(report.ExitCode == 0, report.ToString());

        // The re-executed agent got the runtime settings that mesh run made before its first socket.
        AssertThreadingSettings(agent.Pid);
    }

    [Fact]
    public async Task NodeProxy_RunsAsItsOwnProcess_AsMeshUser_WithNoCapabilitiesAndNoWayToGainAny()
    {
        using var sandbox = AgentSandbox.Create("proxyprivs");
        var agent = await sandbox.StartAgentAsync("--proxy-port", LoopbackPair.FreePort().ToString());
        var proxyPid = agent.NodeProxyPid();
        Assert.True(proxyPid is not null, $"no `mesh proxy` child of agent {agent.Pid}");

        var status = ProcStatus(proxyPid.Value);
        var meshUid = File.ReadLines("/etc/passwd").Select(line => line.Split(':')).Single(fields => fields[0] == "mesh")[2];
        Assert.Equal([meshUid, meshUid, meshUid, meshUid], status["Uid"].Split('\t', StringSplitOptions.RemoveEmptyEntries));
        foreach (var set in new[] { "CapEff", "CapPrm", "CapInh", "CapAmb" })
        {
            Assert.True(Convert.ToUInt64(status[set], 16) == 0, $"the node proxy's {set} is {status[set]}, expected none");
        }
        // No set-user-id or file-capability program it might run could give any back.
        Assert.Equal("1", status["NoNewPrivs"]);
        // In the agent's cgroup, where the kernel answers its getsockopt(SO_ORIGINAL_DST).
        Assert.Equal(File.ReadAllText($"/proc/{agent.Pid}/cgroup"), File.ReadAllText($"/proc/{proxyPid}/cgroup"));
        var report = await sandbox.StatusAsync();
        Assert.Contains($"pid {proxyPid}, unprivileged", report.StdOut);
        // It serves with the agent's threading settings, inherited when the agent started it.
        AssertThreadingSettings(proxyPid.Value);

        // SIGTERM to the agent ends the proxy too.
        Assert.Equal(0, await agent.StopAsync());
        Assert.False(Directory.Exists($"/proc/{proxyPid}"), $"the node proxy {proxyPid} outlived the agent");
    }

    [Fact]
    public async Task KillHard_ThenRestart_ReusesPinnedMaps_SplicesAgain_AndSigtermRemovesEverything()
    {
        using var sandbox = AgentSandbox.Create("restart");
        var first = await sandbox.StartAgentAsync();
        var maps = await sandbox.PinnedMapIdsAsync();

        await first.KillHardAsync();

        foreach (var name in MapNames.All)
        {
            Assert.True(File.Exists(Path.Combine(sandbox.PinDirectory, name)), $"pin {name} is gone after kill -9; it must stay so spliced connections keep flowing");
        }
        Assert.Equal(maps, await sandbox.PinnedMapIdsAsync());
        var stale = await sandbox.StatusAsync();
        Assert.True(stale.ExitCode != 0 && stale.ErrorLines.Count == 1, $"mesh status must say no agent runs after kill -9:{Environment.NewLine}{stale}");

        var second = await sandbox.StartAgentAsync();

        Assert.Equal(maps, await sandbox.PinnedMapIdsAsync());
        var attached = (await BpfTool.CgroupProgramsAsync(sandbox.CgroupPath)).Select(program => program.Split(' ').Last()).Order().ToList();
        string[] expected = [SpliceDatapath.SockOpsProgram, DivertDatapath.Connect4Program, DivertDatapath.Connect6Program, DivertDatapath.EstablishedProgram,
            DivertDatapath.OriginalDstProgram, DivertDatapath.GetPeerName4Program, DivertDatapath.GetPeerName6Program,
            DivertDatapath.SendMsg4Program, DivertDatapath.SendMsg6Program, DivertDatapath.RecvMsg4Program, DivertDatapath.RecvMsg6Program,
            .. L4Datapath.SocketPrograms];
        Assert.True(attached.SequenceEqual(expected.Order()),
            $"after the restart the cgroup must carry each of Mesh's programs exactly once: {string.Join(", ", attached)}");
        var before = await sandbox.BytesRedirectedFromStatusAsync();
        sandbox.EnterCgroup();
        using (var pair = await LoopbackPair.ConnectAsync())
        {
            await Transfers.AssertBothWaysAsync(pair, Size, "after the restart");
        }
        sandbox.LeaveCgroup();
        var after = await sandbox.BytesRedirectedFromStatusAsync();
        Assert.True(after - before >= 2UL * Size, $"bytes redirected grew by {after - before} for {2 * Size} bytes sent after the restart");

        var exitCode = await second.StopAsync(AgentProcess.SigTerm);

        Assert.True(exitCode == 0, $"the agent exited with {exitCode} on SIGTERM:{Environment.NewLine}{second.Output}");
        await sandbox.AssertNothingLeftAsync(maps.Values);
    }

    [Fact]
    public async Task ConnectionSplicedByFirstAgent_KeepsFlowingBothWays_AcrossKillHardAndRestart()
    {
        using var sandbox = AgentSandbox.Create("survive");
        var first = await sandbox.StartAgentAsync();
        var maps = await sandbox.PinnedMapIdsAsync();
        sandbox.EnterCgroup();
        using var pair = await LoopbackPair.ConnectAsync();
        sandbox.LeaveCgroup();

        var start = sandbox.PinnedCounters();
        await Transfers.AssertBothWaysAsync(pair, Size, "with the first agent");
        var spliced = sandbox.PinnedCounters();
        Assert.True(spliced.BytesRedirected - start.BytesRedirected >= 2UL * Size,
            $"the connection was not spliced by the first agent: {spliced.BytesRedirected - start.BytesRedirected} bytes redirected for {2 * Size}");

        await first.KillHardAsync();

        await Transfers.AssertBothWaysAsync(pair, Size, "after kill -9, with no agent running");
        var orphaned = sandbox.PinnedCounters();
        Assert.True(orphaned.BytesRedirected - spliced.BytesRedirected >= 2UL * Size,
            $"after kill -9 the connection is no longer spliced: {orphaned.BytesRedirected - spliced.BytesRedirected} bytes redirected for {2 * Size}");

        var second = await sandbox.StartAgentAsync();
        Assert.Equal(maps, await sandbox.PinnedMapIdsAsync());

        var beforeThird = await sandbox.BytesRedirectedFromStatusAsync();
        await Transfers.AssertBothWaysAsync(pair, Size, "after the restart");
        var status = await sandbox.StatusAsync();
        Assert.True(status.ExitCode == 0, status.ToString());
        var afterThird = StatusTable.Counter(status.StdOut, "bytes redirected");
        Assert.True(afterThird - beforeThird >= 2UL * Size,
            $"after the restart the old connection is no longer spliced: {afterThird - beforeThird} bytes redirected for {2 * Size}");
        Assert.Equal(start.LookupsMissed, StatusTable.Counter(status.StdOut, "lookups missed"));

        // Live spliced sockets rightly keep their sk_msg program referenced: close them before checking.
        pair.Dispose();
        var exitCode = await second.StopAsync(AgentProcess.SigTerm);

        Assert.True(exitCode == 0, $"the agent exited with {exitCode} on SIGTERM:{Environment.NewLine}{second.Output}");
        await sandbox.AssertNothingLeftAsync(maps.Values);
    }

    [Fact]
    public async Task LongTransfer_AcrossKillHardAndRestartMidway_ArrivesWhole()
    {
        const int Total = 48 * 1024 * 1024;
        const int Chunk = 64 * 1024;
        using var sandbox = AgentSandbox.Create("midway");
        var first = await sandbox.StartAgentAsync();
        sandbox.EnterCgroup();
        using var pair = await LoopbackPair.ConnectAsync();
        sandbox.LeaveCgroup();
        var payload = SocketStreams.RandomBytes(Total);
        var received = SocketStreams.ReceiveExactlyAsync(pair.Server, Total);
        var killed = new TaskCompletionSource();
        var restarted = new TaskCompletionSource();
        var sending = Task.Run(async () =>
        {
            // A third before the kill, a third with no agent, a third after the restart.
            for (var chunk = 0; chunk < Total / Chunk; chunk++)
            {
                if (chunk == Total / Chunk / 3)
                {
                    await killed.Task;
                }
                if (chunk == 2 * Total / Chunk / 3)
                {
                    await restarted.Task;
                }
                await SocketStreams.SendAllAsync(pair.Client, payload.AsMemory(chunk * Chunk, Chunk));
                await Task.Delay(1);
            }
        });

        await Task.Delay(200);
        await first.KillHardAsync();
        killed.SetResult();
        await Task.Delay(300);
        await sandbox.StartAgentAsync();
        restarted.SetResult();
        await sending.WaitAsync(Transfers.Timeout);
        var bytes = await received.WaitAsync(Transfers.Timeout);

        Assert.Equal(Total, bytes.Length);
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(bytes));
    }

    [Fact]
    public async Task Sigint_DetachesEverything()
    {
        using var sandbox = AgentSandbox.Create("sigint");
        var agent = await sandbox.StartAgentAsync();
        var maps = await sandbox.PinnedMapIdsAsync();
        Assert.NotEmpty(await BpfTool.CgroupProgramsAsync(sandbox.CgroupPath));

        var exitCode = await agent.StopAsync(AgentProcess.SigInt);

        Assert.True(exitCode == 0, $"the agent exited with {exitCode} on SIGINT:{Environment.NewLine}{agent.Output}");
        await sandbox.AssertNothingLeftAsync(maps.Values);
    }

    /// <summary>
    /// The process was started with the threading settings of <c>mesh run</c> (<see cref="ThreadingSettings"/>):
    /// /proc/PID/environ is what execve passed, so it is what the runtime read.
    /// </summary>
    private static void AssertThreadingSettings(int pid)
    {
        var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0');
        Assert.Contains("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", environment);
        Assert.Contains($"DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT={ThreadingSettings.EpollThreads(Environment.ProcessorCount)}", environment);
        Assert.Contains("DOTNET_HillClimbing_Disable=1", environment);
    }

    /// <summary>/proc/PID/status as key → value.</summary>
    private static Dictionary<string, string> ProcStatus(int pid) =>
        File.ReadAllLines($"/proc/{pid}/status").ToDictionary(line => line.Split(':')[0], line => line.Split(':', 2)[1].Trim());
}
