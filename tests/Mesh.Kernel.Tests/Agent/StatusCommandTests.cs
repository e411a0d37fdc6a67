using Mesh.Redirector.Programs;

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
