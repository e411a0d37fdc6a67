using System.Diagnostics;
using System.Net;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// The agent serves the namespaces of the workloads it finds to the splice: two workloads on a bridge talk through
/// the kernel splice with no setting inside them, as two containers on docker0 would.
/// </summary>
public sealed class WorkloadSpliceTests(ITestOutputHelper output)
{
    private const int Exchanges = 64;
    private const int MessageSize = 4096;

    private const string EchoServer = """
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
        print("listening", flush=True)
        c, _ = s.accept()
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
        """;

    /// <summary>
    /// On one connection, for each line read (a number that varies the bytes), argv[4] exchanges of argv[3] bytes, each
    /// checked as echoed in order; prints "connected", then "ok" per line.
    /// </summary>
    private const string Client = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        size, count = int(sys.argv[3]), int(sys.argv[4])
        print("connected", flush=True)
        for round in sys.stdin:
            for i in range(count):
                message = bytes((int(round) + i + j) % 251 for j in range(size))
                s.sendall(message)
                echoed = b""
                while len(echoed) < size:
                    echoed += s.recv(size - len(echoed))
                assert echoed == message, f"round {round.strip()}, exchange {i} came back different"
            print("ok", flush=True)
        """;

    [Fact]
    public async Task TwoWorkloadsOnABridge_FoundByTheAgent_AreSplicedBothWays()
    {
        using var node = new TwoWorkloads("wlsplice");
        var (sandbox, web, db, dbAddress) = (node.Sandbox, node.Web, node.Db, node.DbAddress);
        await sandbox.StartAgentAsync();
        using var admin = new AgentAdmin(sandbox.PinDirectory);
        Assert.NotNull(await admin.WaitListedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
        Assert.Contains(dbAddress.ToString(), (await admin.WaitListedAsync(db.Cgroup, TimeSpan.FromSeconds(5)))!.Addresses);
        await AssertSplicedExchangeAsync(sandbox, web, db, dbAddress);
    }

    /// <summary>
    /// As Docker and CNI plugins do it: the workload's first process joins its cgroup, and its network is configured
    /// 2 s later. The agent follows the namespace's addresses: served within 1 s of the address, forgotten once it goes.
    /// </summary>
    [Fact]
    public async Task AddressConfiguredAfterTheFirstProcess_IsSplicedWithinOneSecond_AndForgottenWhenRemoved()
    {
        using var sandbox = AgentSandbox.Create("wladdr");
        using var bridge = TestBridge.Create();
        await sandbox.StartAgentAsync();
        using var admin = new AgentAdmin(sandbox.PinDirectory);
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var db = TestWorkload.Start(sandbox.CgroupPath, "db");
        var dbFound = await admin.WaitListedAsync(db.Cgroup, TimeSpan.FromSeconds(5));
        Assert.NotNull(dbFound);
        Assert.Empty(dbFound.Addresses);
        Assert.NotNull(await admin.WaitListedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
        await Task.Delay(TimeSpan.FromSeconds(2));

        var clock = Stopwatch.StartNew();
        bridge.Attach(web.Pid, 2);
        var (dbAddress, _) = bridge.Attach(db.Pid, 3);
        var servedAfter = await WaitForAsync(() => OwnerOf(sandbox, dbAddress) == dbFound.NetnsCookie);
        output.WriteLine($"both addresses configured, db's served after {clock.Elapsed.TotalMilliseconds:F0} ms (shared, noisy machine)");

        Assert.True(servedAfter < TimeSpan.FromSeconds(1), $"db's address was served {servedAfter.TotalMilliseconds:F0} ms after it was configured");
        Assert.Contains(dbAddress.ToString(), (await admin.StatusAsync()).Workloads!.Single(w => w.Cgroup == db.Cgroup).Addresses);
        await AssertSplicedExchangeAsync(sandbox, web, db, dbAddress);

        clock.Restart();
        var (exitCode, removal) = await db.RunAsync(joinCgroup: false, "ip", "addr", "del", $"{dbAddress}/24", "dev", "eth0");
        Assert.True(exitCode == 0, removal);
        var forgottenAfter = await WaitForAsync(() => OwnerOf(sandbox, dbAddress) is null);
        output.WriteLine($"db's address removed, forgotten after {clock.Elapsed.TotalMilliseconds:F0} ms");

        Assert.True(forgottenAfter < TimeSpan.FromSeconds(1), $"db's removed address was still served {forgottenAfter.TotalMilliseconds:F0} ms later");
        Assert.DoesNotContain(dbAddress.ToString(), (await admin.StatusAsync()).Workloads!.Single(w => w.Cgroup == db.Cgroup).Addresses);
    }

    /// <summary>
    /// A crash of the agent (kill -9) leaves the maps pinned and the sk_msg program attached: a connection spliced
    /// between two workloads keeps flowing through it with no agent, and the restarted agent splices new ones.
    /// </summary>
    [Fact]
    public async Task SplicedConnectionBetweenWorkloads_KeepsFlowingAcrossKillHard_AndTheRestartedAgentSplicesNewOnes()
    {
        const ulong ExchangedOneWay = Exchanges * MessageSize;
        using var node = new TwoWorkloads("wlkill");
        var (sandbox, web, db, dbAddress) = (node.Sandbox, node.Web, node.Db, node.DbAddress);
        var first = await sandbox.StartAgentAsync();
        using var admin = new AgentAdmin(sandbox.PinDirectory);
        await WaitServedWithAddressesAsync(admin, web, db);
        using var echo = db.StartInside(joinCgroup: true, "python3", "-u", "-c", EchoServer, "9000");
        Assert.Equal("listening", await echo.StandardOutput.ReadLineAsync());
        using var client = web.StartInside(joinCgroup: true, "python3", "-u", "-c", Client, dbAddress.ToString(), "9000", MessageSize.ToString(), Exchanges.ToString());
        Assert.Equal("connected", await client.StandardOutput.ReadLineAsync());

        async Task<ulong> RoundAsync(int round, string when)
        {
            var before = sandbox.PinnedCounters().BytesRedirected;
            await client.StandardInput.WriteLineAsync(round.ToString());
            await client.StandardInput.FlushAsync();
            var answer = await client.StandardOutput.ReadLineAsync().WaitAsync(Transfers.Timeout);
            Assert.True(answer == "ok", $"{when}: the exchange failed: {answer ?? await client.StandardError.ReadToEndAsync()}");
            return sandbox.PinnedCounters().BytesRedirected - before;
        }

        var withFirst = await RoundAsync(1, "with the first agent");
        await first.KillHardAsync();
        var withNone = await RoundAsync(2, "after kill -9, with no agent running");
        await sandbox.StartAgentAsync();
        var withSecond = await RoundAsync(3, "after the restart");

        output.WriteLine($"bytes redirected per round: first agent {withFirst}, none {withNone}, restarted {withSecond}");
        // Both directions carry ExchangedOneWay bytes; per-CPU counters may miss a few updates under load.
        Assert.True(withFirst >= ExchangedOneWay, $"with the first agent only {withFirst} bytes were spliced");
        Assert.True(withNone >= ExchangedOneWay, $"after kill -9 only {withNone} bytes were spliced: the connection fell back to TCP");
        Assert.True(withSecond >= ExchangedOneWay, $"after the restart only {withSecond} bytes were spliced");
        await WaitServedWithAddressesAsync(admin, web, db);
        await AssertSplicedExchangeAsync(sandbox, web, db, dbAddress, port: 9001);
        client.StandardInput.Close();
        await client.WaitForExitAsync().WaitAsync(Transfers.Timeout);
        Assert.Equal(0, client.ExitCode);
    }

    /// <summary>Waits (5 s at most) until the agent lists each workload with its addresses.</summary>
    private static async Task WaitServedWithAddressesAsync(AgentAdmin admin, params TestWorkload[] workloads)
    {
        foreach (var workload in workloads)
        {
            var deadline = Stopwatch.StartNew();
            while ((await admin.WaitListedAsync(workload.Cgroup, TimeSpan.FromSeconds(5)))?.Addresses is not { Count: > 0 })
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(5), $"the agent did not list {workload.Cgroup} with its addresses within 5 s");
                await Task.Delay(10);
            }
        }
    }

    /// <summary>An echo exchange from <paramref name="client"/> to <paramref name="server"/>, which must be spliced both ways.</summary>
    private static async Task AssertSplicedExchangeAsync(AgentSandbox sandbox, TestWorkload client, TestWorkload server, IPAddress serverAddress, int port = 9000)
    {
        using var echo = server.StartInside(joinCgroup: true, "python3", "-u", "-c", EchoServer, port.ToString());
        Assert.Equal("listening", await echo.StandardOutput.ReadLineAsync());
        var before = await sandbox.BytesRedirectedFromStatusAsync();

        using var exchange = client.StartInside(joinCgroup: true, "python3", "-u", "-c", Client, serverAddress.ToString(), port.ToString(), MessageSize.ToString(), Exchanges.ToString());
        await exchange.StandardInput.WriteLineAsync("0");
        exchange.StandardInput.Close();
        var output = await exchange.StandardOutput.ReadToEndAsync();
        var error = await exchange.StandardError.ReadToEndAsync();
        await exchange.WaitForExitAsync();

        Assert.True(exchange.ExitCode == 0 && output.Split('\n', StringSplitOptions.RemoveEmptyEntries) is ["connected", "ok"], $"the client failed ({exchange.ExitCode}): {output}{error}");
        var redirected = await sandbox.BytesRedirectedFromStatusAsync() - before;
        // Both directions carry Exchanges x MessageSize bytes; per-CPU counters may miss a few updates under load.
        Assert.True(redirected >= (ulong)(Exchanges * MessageSize), $"only {redirected} bytes were spliced of {2 * Exchanges * MessageSize} exchanged");
        echo.Kill();
    }

    /// <summary>The namespace served_addresses names as the node-wide owner of <paramref name="address"/>, or null.</summary>
    private static ulong? OwnerOf(AgentSandbox sandbox, IPAddress address)
    {
        using var map = BpfMap.OpenPinned(Path.Combine(sandbox.PinDirectory, MapNames.ServedAddresses));
        return map.TryLookup(ServedAddress.From(0, address), out ulong owner) ? owner : null;
    }

    /// <summary>How long until <paramref name="condition"/> held (polled every 5 ms); fails after 5 s.</summary>
    private static async Task<TimeSpan> WaitForAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the condition did not hold within 5 s");
            await Task.Delay(5);
        }
        return clock.Elapsed;
    }

    /// <summary>web (.2) and db (.3), two workloads of a sandbox on one bridge, as two containers on docker0.</summary>
    private sealed class TwoWorkloads : IDisposable
    {
        private readonly TestBridge _bridge;

        public TwoWorkloads(string label)
        {
            Sandbox = AgentSandbox.Create(label);
            try
            {
                _bridge = TestBridge.Create();
                Web = TestWorkload.Start(Sandbox.CgroupPath, "web");
                Db = TestWorkload.Start(Sandbox.CgroupPath, "db");
                _bridge.Attach(Web.Pid, 2);
                DbAddress = _bridge.Attach(Db.Pid, 3).Address;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public AgentSandbox Sandbox { get; }

        public TestWorkload Web { get; }

        public TestWorkload Db { get; }

        public IPAddress DbAddress { get; }

        public void Dispose()
        {
            Db?.Dispose(); // null when set-up failed before it
            Web?.Dispose();
            _bridge?.Dispose();
            Sandbox.Dispose();
        }
    }
}
