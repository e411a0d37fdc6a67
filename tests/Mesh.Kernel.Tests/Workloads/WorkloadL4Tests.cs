using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// L3/L4 rules between workloads on a bridge. The connect-time check runs in the client's cgroup, so a denied port is
/// refused whether the connection would be spliced or not; XDP on the client's veth host end drops the same flow
/// from a process of that namespace that no cgroup program judges.
/// </summary>
public sealed class WorkloadL4Tests
{
    private const string Server = """
        import socket, sys, threading
        def serve(port):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port)); s.listen(64)
            while True:
                c, _ = s.accept(); c.close()
        for port in sys.argv[1:]:
            threading.Thread(target=serve, args=(int(port),), daemon=True).start()
        print("listening", flush=True)
        threading.Event().wait()
        """;

    private const string Client = """
        import socket, sys
        host = sys.argv[1]
        for port in sys.argv[2:]:
            s = socket.socket(); s.settimeout(1)
            try:
                s.connect((host, int(port))); print("connected")
            except PermissionError:
                print("denied")
            except socket.timeout:
                print("timeout")
            except ConnectionRefusedError:
                print("refused")
            s.close()
        """;

    [Fact]
    public async Task DeniedPortBetweenNamespaces_RefusedAtConnectInTheCgroup_AndDroppedByXdpOnTheVethOutsideIt()
    {
        const int DeniedPort = 5432;
        const int AllowedPort = 8080;
        using var sandbox = AgentSandbox.Create("wll4");
        using var bridge = TestBridge.Create();
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var db = TestWorkload.Start(sandbox.CgroupPath, "db");
        var (_, webHostEnd) = bridge.Attach(web.Pid, 2);
        var (dbAddress, _) = bridge.Attach(db.Pid, 3);
        using var server = db.StartInside(joinCgroup: true, "python3", "-c", Server, DeniedPort.ToString(), AllowedPort.ToString());
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            Assert.Equal("listening", await server.StandardOutput.ReadLineAsync());
            await File.WriteAllTextAsync(configFile, $$"""
                l4:
                  default: allow
                  interfaces: [{ name: {{webHostEnd}}, mode: generic }]
                  rules:
                    - name: no-db-port
                      action: deny
                      to: {{dbAddress}}/32
                      protocol: tcp
                      ports: {{DeniedPort}}
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());

            var inCgroup = await web.RunAsync(joinCgroup: true, "python3", "-c", Client, dbAddress.ToString(), DeniedPort.ToString(), AllowedPort.ToString());
            var outsideCgroup = await web.RunAsync(joinCgroup: false, "python3", "-c", Client, dbAddress.ToString(), DeniedPort.ToString(), AllowedPort.ToString());

            Assert.Equal(["denied", "connected"], Lines(inCgroup.Output));
            Assert.Equal(["timeout", "connected"], Lines(outsideCgroup.Output));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task RuleAddedByReload_CutsAnEstablishedConnectionInsideAWorkloadNamespace()
    {
        const int Port = 6379;
        using var sandbox = AgentSandbox.Create("wll4cut");
        using var bridge = TestBridge.Create();
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var db = TestWorkload.Start(sandbox.CgroupPath, "db");
        bridge.Attach(web.Pid, 2);
        var (dbAddress, _) = bridge.Attach(db.Pid, 3);
        using var server = db.StartInside(joinCgroup: true, "python3", "-c", HoldingServer, Port.ToString());
        using var client = web.StartInside(joinCgroup: true, "python3", "-c", WaitingClient, dbAddress.ToString(), Port.ToString());
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            Assert.Equal("listening", await server.StandardOutput.ReadLineAsync());
            await File.WriteAllTextAsync(configFile, "l4: { default: allow }\n");
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            Assert.NotNull(await admin.WaitServedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
            Assert.Equal("connected", await client.StandardOutput.ReadLineAsync());

            // The connection was made before any rule: only the sweep, run in the web namespace, can cut it.
            await File.WriteAllTextAsync(configFile, $$"""
                l4:
                  default: allow
                  rules:
                    - { name: no-cache, action: deny, to: {{dbAddress}}/32, protocol: tcp, ports: {{Port}} }
                """);
            var outcome = await client.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15));

            Assert.Equal("aborted", outcome);
            var l4 = (await admin.StatusAsync()).L4!;
            var cut = l4.RuleStats[l4.State.Rules.ToList().FindIndex(rule => rule.Name == "no-cache")].SocketsDestroyed;
            Assert.True(cut >= 1, $"connections cut by no-cache: {cut}");
        }
        finally
        {
            foreach (var process in new[] { server, client })
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            File.Delete(configFile);
        }
    }

    // Accepts and keeps each connection open, answering nothing.
    private const string HoldingServer = """
        import socket, sys, threading
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
        print("listening", flush=True)
        held = []
        while True:
            held.append(s.accept()[0])
        """;

    // Connects (retrying until the server's address answers), then waits for what ends the connection.
    private const string WaitingClient = """
        import socket, sys, time
        for _ in range(100):
            try:
                c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1); break
            except OSError:
                time.sleep(0.1)
        print("connected", flush=True)
        c.settimeout(30)
        try:
            print("eof" if c.recv(1) == b"" else "data")
        except ConnectionAbortedError:
            print("aborted")
        except ConnectionResetError:
            print("reset")
        except socket.timeout:
            print("timeout")
        """;

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
