using Mesh.Kernel.Tests.Agent;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// The agent serves the namespaces of the workloads it finds to the splice: two workloads on a bridge talk through
/// the kernel splice with no setting inside them, as two containers on docker0 would.
/// </summary>
public sealed class WorkloadSpliceTests
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

    private const string Client = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        size, count = int(sys.argv[3]), int(sys.argv[4])
        for i in range(count):
            message = bytes([i % 251]) * size
            s.sendall(message)
            echoed = b""
            while len(echoed) < size:
                echoed += s.recv(size - len(echoed))
            assert echoed == message, f"exchange {i} came back different"
        print("ok", flush=True)
        """;

    [Fact]
    public async Task TwoWorkloadsOnABridge_FoundByTheAgent_AreSplicedBothWays()
    {
        using var sandbox = AgentSandbox.Create("wlsplice");
        using var bridge = TestBridge.Create();
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var db = TestWorkload.Start(sandbox.CgroupPath, "db");
        bridge.Attach(web, 2);
        var (dbAddress, _) = bridge.Attach(db, 3);
        await sandbox.StartAgentAsync();
        using var admin = new AgentAdmin(sandbox.PinDirectory);
        Assert.NotNull(await admin.WaitListedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
        Assert.Contains(dbAddress.ToString(), (await admin.WaitListedAsync(db.Cgroup, TimeSpan.FromSeconds(5)))!.Addresses);
        using var server = db.StartInside(joinCgroup: true, "python3", "-u", "-c", EchoServer, "9000");
        Assert.Equal("listening", await server.StandardOutput.ReadLineAsync());
        var before = await sandbox.BytesRedirectedFromStatusAsync();

        var (exitCode, output) = await web.RunAsync("python3", "-c", Client, dbAddress.ToString(), "9000", MessageSize.ToString(), Exchanges.ToString());

        Assert.True(exitCode == 0 && output.Trim() == "ok", $"the client failed ({exitCode}): {output}");
        var redirected = await sandbox.BytesRedirectedFromStatusAsync() - before;
        // Both directions carry Exchanges x MessageSize bytes; per-CPU counters may miss a few updates under load.
        Assert.True(redirected >= (ulong)(Exchanges * MessageSize), $"only {redirected} bytes were spliced of {2 * Exchanges * MessageSize} exchanged");
        server.Kill();
    }
}
