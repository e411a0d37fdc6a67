using System.Globalization;
using System.Text.RegularExpressions;
using Mesh.Datapath.Programs;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>`mesh status`: a table while an agent runs, one clear error line when none does.</summary>
public sealed class StatusCommandTests
{
    [Fact]
    public async Task Status_WhileAgentRuns_ShowsCgroupProgramsAndCounters()
    {
        using var sandbox = AgentSandbox.Create("status");
        var agent = await sandbox.StartAgentAsync();

        var status = await sandbox.StatusAsync();

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.True(status.ErrorLines.Count == 0, $"mesh status wrote to stderr:{Environment.NewLine}{status}");
        foreach (var expected in new[]
                 {
                     sandbox.CgroupPath, sandbox.PinDirectory, agent.Pid.ToString(),
                     SpliceDatapath.SockOpsProgram, "sock_ops", SpliceDatapath.RedirectProgram, "sk_msg",
                 })
        {
            Assert.True(status.StdOut.Contains(expected, StringComparison.Ordinal), $"mesh status does not show '{expected}':{Environment.NewLine}{status}");
        }
        foreach (var counter in new[] { "sockets in sockhash", "bytes redirected", "lookups missed" })
        {
            StatusTable.Counter(status.StdOut, counter);
        }

        // The agent's own memory, as the kernel sees it (VmRSS) and, once it collected, as its GC does.
        var memory = Regex.Match(status.StdOut, @"agent memory: RSS (?<rss>[0-9.]+) MiB; \.NET heap(: no GC yet| (?<heap>[0-9.]+) MiB at the last GC, (?<free>[0-9.]+) MiB of it free fragments)");
        Assert.True(memory.Success, $"no agent memory line:{Environment.NewLine}{status}");
        var kernelRss = long.Parse(Regex.Match(File.ReadAllText($"/proc/{agent.Pid}/status"), @"VmRSS:\s+(\d+) kB").Groups[1].Value) / 1024.0;
        var shownRss = double.Parse(memory.Groups["rss"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(shownRss, kernelRss * 0.8, kernelRss * 1.2);
        if (memory.Groups["heap"].Success)
        {
            var heap = double.Parse(memory.Groups["heap"].Value, CultureInfo.InvariantCulture);
            Assert.InRange(heap, 0.1, shownRss);
            Assert.InRange(double.Parse(memory.Groups["free"].Value, CultureInfo.InvariantCulture), 0, heap);
        }
    }

    [Fact]
    public async Task Status_WhenNoAgentEverRan_FailsWithOneLine()
    {
        using var sandbox = AgentSandbox.Create("status-none");

        var status = await sandbox.StatusAsync();

        RunErrorTests.AssertOneLineError(status, sandbox.PinDirectory);
        Assert.True(status.StdOut.Trim().Length == 0, $"a failed mesh status printed a table:{Environment.NewLine}{status}");
    }

    [Fact]
    public async Task Status_AfterAgentStopped_FailsWithOneLine()
    {
        using var sandbox = AgentSandbox.Create("status-stopped");
        var agent = await sandbox.StartAgentAsync();
        Assert.Equal(0, (await sandbox.StatusAsync()).ExitCode);
        await agent.StopAsync(AgentProcess.SigTerm);

        var status = await sandbox.StatusAsync();

        RunErrorTests.AssertOneLineError(status, sandbox.PinDirectory);
    }
}
