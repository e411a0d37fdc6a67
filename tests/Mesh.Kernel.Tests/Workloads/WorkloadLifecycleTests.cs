using System.Diagnostics;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// Workloads come and go under the served cgroup: the agent serves a new one within 1 s of its first process, and one
/// that goes away leaves nothing behind in the agent, the proxy or the kernel's maps.
/// </summary>
public sealed class WorkloadLifecycleTests(ITestOutputHelper output)
{
    private const string Config = """
        services:
          - name: api
            address: 10.96.78.10
            port: 8080
            endpoints: [127.0.0.1:9]
            healthCheck: { interval: 1h, timeout: 1s }   # no probe sockets coming and going while fds are counted
            rules:
              - name: admin
                matches: [{ path: { type: PathPrefix, value: /admin } }]
                action: deny
        """;

    [Fact]
    public async Task NewWorkload_IsServedWithinOneSecond_WithItsCgroupNamespaceAndListeners()
    {
        using var sandbox = AgentSandbox.Create("wlnew");
        var configFile = await WriteConfigAsync(sandbox);
        try
        {
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            // The clock starts when the workload's first process is in its cgroup (it says "ready" right after joining),
            // not before unshare, sh and ip have started: on a busy host those alone took a few hundred ms.
            var launch = Stopwatch.StartNew();
            using var workload = TestWorkload.Start(sandbox.CgroupPath, "new");
            var started = launch.Elapsed;
            var clock = Stopwatch.StartNew();
            var served = await admin.WaitServedAsync(workload.Cgroup, TimeSpan.FromSeconds(5));
            var elapsed = clock.Elapsed;
            output.WriteLine($"served {elapsed.TotalMilliseconds:F0} ms after its first process joined ({started.TotalMilliseconds:F0} ms to start it; shared, noisy machine)");

            Assert.NotNull(served);
            Assert.True(elapsed < TimeSpan.FromSeconds(1), $"served after {elapsed.TotalMilliseconds:F0} ms");
            Assert.NotEqual(0UL, served.NetnsCookie);
            Assert.True(served.Listeners >= 1);
            Assert.Contains(served.NetnsCookie, AgentFootprint.ServedNamespacesOf(sandbox));
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task TwoHundredCreateServeDestroyCycles_LeaveFdsThreadsListenersAndMapEntriesWhereTheyStarted()
    {
        using var sandbox = AgentSandbox.Create("wlcycle");
        var configFile = await WriteConfigAsync(sandbox);
        try
        {
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            await CycleAsync(sandbox, admin, 0); // warms up what the agent makes once (threads of the pool, the proxy's handoff)
            var proxyPid = (await admin.StatusAsync()).Divert!.ProxyPid!.Value;
            var before = await AgentFootprint.SettledAsync(agent.Pid, proxyPid, sandbox, admin, expected: null);
            var fdsBefore = AgentFootprint.FdTargets(agent.Pid);

            var clock = Stopwatch.StartNew();
            for (var cycle = 1; cycle <= 200; cycle++)
            {
                await CycleAsync(sandbox, admin, cycle);
            }
            output.WriteLine($"200 cycles in {clock.Elapsed.TotalSeconds:F1} s (shared, noisy machine)");
            var after = await AgentFootprint.AssertBackAsync(before, fdsBefore, agent.Pid, proxyPid, sandbox, admin, output);
            Assert.Equal(0, after.Listeners);
            Assert.Equal(1, after.ServedNamespaces); // the agent's own
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task DeclaredCgroupThatDoesNotExist_IsLogged_AndServedWithItsNameOnceItAppears()
    {
        using var sandbox = AgentSandbox.Create("wllate");
        var late = Path.Combine(sandbox.CgroupPath, "late");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $"workloads:\n  - name: late\n    cgroup: {late}\n" + Config);
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            Assert.Contains($"workloads[late].cgroup: {late} does not exist (yet)", agent.Output);

            using var workload = TestWorkload.Start(sandbox.CgroupPath, "late");
            var served = await admin.WaitServedAsync(late, TimeSpan.FromSeconds(5));

            Assert.Equal("late", served?.Name);
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task ConfigReloadNamingAServedWorkload_ServesItUnderItsNewName()
    {
        using var sandbox = AgentSandbox.Create("wlrename");
        var configFile = await WriteConfigAsync(sandbox);
        try
        {
            using var workload = TestWorkload.Start(sandbox.CgroupPath, "web");
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            Assert.Null((await admin.WaitServedAsync(workload.Cgroup, TimeSpan.FromSeconds(5)))?.Name);

            await File.WriteAllTextAsync(configFile, $"workloads:\n  - name: web\n    cgroup: {workload.Cgroup}\n" + Config);
            var renamed = await WaitAsync(async () => await admin.WaitServedAsync(workload.Cgroup, TimeSpan.FromSeconds(1)) is { Name: "web" } served ? served : null);

            Assert.NotNull(renamed);
            Assert.Contains(renamed.NetnsCookie, AgentFootprint.ServedNamespacesOf(sandbox));
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task ProxyPortTakenInTheNamespace_WorkloadListedUnserved_ThenServedOnceItIsFree()
    {
        using var sandbox = AgentSandbox.Create("wlbusy");
        var configFile = await WriteConfigAsync(sandbox);
        var proxyPort = LoopbackPair.FreePort();
        using var workload = TestWorkload.Start(sandbox.CgroupPath, "busy");
        using var holder = workload.StartInside(joinCgroup: false, "python3", "-c",
            $"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {proxyPort})); s.listen(); print('held', flush=True); time.sleep(600)");
        try
        {
            Assert.Equal("held", await holder.StandardOutput.ReadLineAsync());
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", proxyPort.ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            var listed = await admin.WaitListedAsync(workload.Cgroup, TimeSpan.FromSeconds(5));
            Assert.NotNull(listed);
            Assert.Equal(0, listed.Listeners);
            Assert.DoesNotContain(listed.NetnsCookie, AgentFootprint.ServedNamespacesOf(sandbox));

            holder.Kill();
            await holder.WaitForExitAsync();
            var served = await admin.WaitServedAsync(workload.Cgroup, TimeSpan.FromSeconds(5));

            Assert.NotNull(served);
            Assert.Contains(served.NetnsCookie, AgentFootprint.ServedNamespacesOf(sandbox));
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill();
            }
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task EnteringTheNamespaceOfAProcessThatIsGone_IsNamespaceGone_NotACrash()
    {
        using var process = Process.Start(new ProcessStartInfo("true"))!;
        await process.WaitForExitAsync();

        var error = Assert.Throws<Mesh.Agent.Workloads.NamespaceGoneException>(() => Mesh.Agent.Workloads.NamespaceThread.Run(process.Id, () => 1));
        Assert.Contains($"process {process.Id}", error.Message);
    }

    /// <summary>The first non-null answer of <paramref name="attempt"/> within 10 s, or null.</summary>
    private static async Task<T?> WaitAsync<T>(Func<Task<T?>> attempt) where T : class
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (await attempt() is { } answer)
            {
                return answer;
            }
            await Task.Delay(20);
        }
        return null;
    }

    private static async Task CycleAsync(AgentSandbox sandbox, AgentAdmin admin, int cycle)
    {
        using (var workload = TestWorkload.Start(sandbox.CgroupPath, $"cycle{cycle}"))
        {
            Assert.True(await admin.WaitServedAsync(workload.Cgroup, TimeSpan.FromSeconds(5)) is not null, $"cycle {cycle}: not served");
        }
        Assert.True(await admin.WaitGoneAsync(Path.Combine(sandbox.CgroupPath, $"cycle{cycle}"), TimeSpan.FromSeconds(5)), $"cycle {cycle}: not removed");
    }

    private static async Task<string> WriteConfigAsync(AgentSandbox sandbox)
    {
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        await File.WriteAllTextAsync(configFile, Config);
        return configFile;
    }
}
