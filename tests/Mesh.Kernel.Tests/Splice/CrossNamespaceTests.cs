using System.Net;
using System.Net.Sockets;
using Mesh.Agent;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>
/// Workloads in network namespaces on a bridge (veth pairs, as Docker and most CNIs make them),
/// served by calling <c>SpliceDatapath.ServeNamespace</c> directly as the agent's workload discovery will.
/// </summary>
public sealed class CrossNamespaceTests(ITestOutputHelper output)
{
    private const int KiB = 1024;
    private const int MiB = 1024 * KiB;
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Sends argv[2] random bytes to the first client after its one-byte request; prints port, then SHA-256.</summary>
    private const string DownloadServer = """
        import hashlib, os, socket, sys
        data = os.urandom(int(sys.argv[2]))
        server = socket.socket()
        server.bind((sys.argv[1], 0))
        server.listen()
        print(server.getsockname()[1], flush=True)
        connection, _ = server.accept()
        connection.recv(1)
        connection.sendall(data)
        connection.close()
        print(hashlib.sha256(data).hexdigest().upper(), flush=True)
        """;

    /// <summary>Asks for the download right after connect() and prints its length and SHA-256.</summary>
    private const string DownloadClient = """
        import hashlib, socket, sys
        client = socket.create_connection((sys.argv[1], int(sys.argv[2])))
        client.sendall(b"g")
        digest, length = hashlib.sha256(), 0
        while True:
            chunk = client.recv(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            length += len(chunk)
        print(length, digest.hexdigest().upper(), flush=True)
        """;

    /// <summary>Reads each connection to its end, checks the numbered chunks are in order, answers "ok" or "bad".</summary>
    private const string OrderServer = """
        import socket, struct, sys, threading
        chunks = int(sys.argv[2])
        server = socket.socket()
        server.bind((sys.argv[1], 0))
        server.listen(1024)
        print(server.getsockname()[1], flush=True)
        def serve(connection):
            data = b""
            while True:
                part = connection.recv(65536)
                if not part:
                    break
                data += part
            expected = b"".join(struct.pack("<i", i) * 4 for i in range(chunks))
            connection.sendall(b"ok" if data == expected else b"bad")
            connection.close()
        while True:
            connection, _ = server.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()
        """;

    /// <summary>
    /// Opens argv[3] connections, 32 at a time, each writing numbered 16-byte chunks right after connect().
    /// A blocking recv() on a spliced socket can fail with EAGAIN (tcp_bpf_recvmsg on 6.18 returns it
    /// after a wake-up that brought no data); the client retries and prints how often that happened.
    /// </summary>
    private const string OrderClient = """
        import socket, struct, sys
        from concurrent.futures import ThreadPoolExecutor
        host, port, connections, chunks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        def one(_):
            client = socket.create_connection((host, port))
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(chunks):
                client.send(struct.pack("<i", i) * 4)
            client.shutdown(socket.SHUT_WR)
            spurious = 0
            while True:
                try:
                    answer = client.recv(16)
                    break
                except BlockingIOError:
                    spurious += 1
            client.close()
            return answer == b"ok", spurious
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(one, range(connections)))
        print(sum(ok for ok, _ in results), sum(not ok for ok, _ in results), sum(spurious for _, spurious in results), flush=True)
        """;

    /// <summary>Serves one connection on argv[1]:argv[2] (port reuse allowed) and prints what it received.</summary>
    private const string SameTupleServer = """
        import socket, sys
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2])))
        server.listen()
        print("listening", flush=True)
        connection, _ = server.accept()
        connection.sendall(sys.argv[3].encode())
        print(connection.recv(100).decode(), flush=True)
        """;

    /// <summary>Connects from argv[3]:argv[4] to argv[1]:argv[2], sends argv[5], prints what the server said.</summary>
    private const string SameTupleClient = """
        import socket, sys
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        client.bind((sys.argv[3], int(sys.argv[4])))
        client.connect((sys.argv[1], int(sys.argv[2])))
        print(client.recv(100).decode(), flush=True)
        client.sendall(sys.argv[5].encode())
        """;

    [Fact]
    public async Task Download_64MiB_BetweenTwoNamespaces_IsSplicedAndIntact()
    {
        const int size = 64 * MiB;
        using var cgroup = SplicedCgroup.Create();
        using var bridge = TestBridge.Create();
        var (server, client) = ServeTwoNamespaces(cgroup, bridge);
        var before = cgroup.Counters();

        var serving = server.StartPython(DownloadServer, server.Address.ToString(), size.ToString());
        var port = await serving.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout);
        var received = client.RunPython(DownloadClient, server.Address.ToString(), port!).Split();
        var sent = await serving.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout);

        var moved = cgroup.Counters().Minus(before);
        output.WriteLine($"received {received[0]} bytes, redirected {moved.BytesRedirected / (double)size:P1} of them; counters {moved}");
        Assert.Equal(size.ToString(), received[0]);
        Assert.Equal(sent, received[1]);
        Assert.Equal(2UL, moved.SocketsRegistered);
        // The download is spliced from its first byte; it goes on over TCP once the sender is a
        // receive buffer ahead of the reader (the bound), and 6.18 gives no way back while the
        // sender stays ahead (loadtest/README.md, "Bulk transfers").
        Assert.True(moved.DirectionsSpliced >= 1, $"{moved}");
        Assert.True(moved.BytesRedirected >= 128 * KiB, $"{moved}");
        Assert.Equal(0UL, moved.LookupsMissed);
    }

    [Fact]
    public async Task Send_SmallChunksRightAfterConnect_BetweenTwoNamespaces_ArriveInOrderOnTenThousandConnections()
    {
        const int connections = 10_000;
        const int chunks = 16;
        using var cgroup = SplicedCgroup.Create();
        using var bridge = TestBridge.Create();
        var (server, client) = ServeTwoNamespaces(cgroup, bridge);
        var before = cgroup.Counters();

        var serving = server.StartPython(OrderServer, server.Address.ToString(), chunks.ToString());
        var port = await serving.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout);
        var results = client.RunPython(OrderClient, server.Address.ToString(), port!, connections.ToString(), chunks.ToString()).Split();

        var moved = cgroup.Counters().Minus(before);
        output.WriteLine($"in order {results[0]}, out of order {results[1]}, EAGAIN from a blocking recv {results[2]}; counters {moved}; spliced {moved.SplicedDirectionShare:P1} of the directions");
        Assert.Equal(connections.ToString(), results[0]);
        Assert.Equal("0", results[1]);
        Assert.Equal(2UL * connections, moved.SocketsRegistered);
        Assert.True(moved.SplicedDirectionShare >= 0.95, $"spliced {moved.SplicedDirectionShare:P1} of the send directions: {moved}");
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task HostProcess_AndWorkload_AreSplicedBothWays(AddressFamily family)
    {
        using var cgroup = SplicedCgroup.Create();
        using var bridge = TestBridge.Create();
        var workload = bridge.AddNamespace(1);
        var address = family == AddressFamily.InterNetwork ? workload.Address : workload.Address6;
        cgroup.Datapath!.SetNodeAddresses(NodeAddresses.Current());
        cgroup.Datapath.ServeNamespace(workload.Cookie, [workload.Address, workload.Address6]);
        var echo = workload.StartPython(PeerLocalityTests.EchoServer, address.ToString());
        var port = int.Parse((await echo.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout))!);
        var before = cgroup.Counters();

        using var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(address, port));
        var payload = SocketStreams.RandomBytes(32 * KiB);
        for (var round = 0; round < 4; round++)
        {
            await SocketStreams.SendAllAsync(socket, payload);
            var echoed = await SocketStreams.ReceiveExactlyAsync(socket, payload.Length).WaitAsync(ProcessTimeout);
            Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(echoed));
        }

        var moved = cgroup.Counters().Minus(before);
        using var sockets = cgroup.OpenSockets();
        output.WriteLine($"counters {moved}; keys {string.Join("; ", sockets.Keys<SockKey>())}; served {string.Join("; ", cgroup.Datapath.ServedNamespaces().Select(served => $"{served.Key}: {string.Join(", ", served.Value)}"))}");
        Assert.Equal(2UL, moved.SocketsRegistered);
        Assert.Equal(2UL, moved.DirectionsSpliced);
        Assert.Equal(0UL, moved.DirectionsKeptOnTcp);
        Assert.True(moved.BytesRedirected >= 2UL * 3 * (ulong)payload.Length, $"{moved}");
    }

    [Fact]
    public async Task NamespaceNotServed_IsNeverSpliced()
    {
        using var cgroup = SplicedCgroup.Create();
        using var bridge = TestBridge.Create();
        var served = bridge.AddNamespace(1);
        var unserved = bridge.AddNamespace(2);
        cgroup.Datapath!.ServeNamespace(served.Cookie, [served.Address]);
        var before = cgroup.Counters();

        var serving = served.StartPython(DownloadServer, served.Address.ToString(), MiB.ToString());
        var port = await serving.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout);
        var received = unserved.RunPython(DownloadClient, served.Address.ToString(), port!).Split();
        var sent = await serving.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout);

        var moved = cgroup.Counters().Minus(before);
        Assert.Equal(sent, received[1]);
        Assert.Equal(0UL, moved.SocketsRegistered);
        Assert.Equal(0UL, moved.BytesRedirected);
    }

    /// <summary>
    /// Two bridges with one subnet, as two clusters' CNIs or two compose projects can make: the same
    /// address in two namespaces. Each namespace talks to itself over its own address with the same
    /// tuple (spliced: the namespace cookie keeps the keys apart), and to its bridge neighbour, whose
    /// address another namespace owns too (never spliced: nobody can tell which namespace is meant).
    /// </summary>
    [Fact]
    public async Task SameAddressInTwoNamespaces_IdenticalTuples_NeverCross()
    {
        using var cgroup = SplicedCgroup.Create();
        var (first, second) = TestBridge.CreateTwinsSharingOneSubnet();
        using var firstBridge = first;
        using var secondBridge = second;
        BridgedNamespace[] clients = [first.AddNamespace(1), second.AddNamespace(1)];
        BridgedNamespace[] servers = [first.AddNamespace(2), second.AddNamespace(2)];
        foreach (var netns in clients.Concat(servers))
        {
            cgroup.Datapath!.ServeNamespace(netns.Cookie, [netns.Address]);
        }
        var serverPort = LoopbackPair.FreePort().ToString();
        var clientPort = LoopbackPair.FreePort().ToString();

        async Task<SpliceCounterSnapshot> ExchangeAsync(Func<int, BridgedNamespace> serverOf, Func<int, BridgedNamespace> clientOf)
        {
            var before = cgroup.Counters();
            var serving = new[] { 0, 1 }.Select(i => serverOf(i).StartPython(SameTupleServer, serverOf(i).Address.ToString(), serverPort, $"server-{i}")).ToArray();
            foreach (var process in serving)
            {
                Assert.Equal("listening", await process.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout));
            }
            var heard = await Task.WhenAll(new[] { 0, 1 }.Select(i => Task.Run(() =>
                clientOf(i).RunPython(SameTupleClient, serverOf(i).Address.ToString(), serverPort, clientOf(i).Address.ToString(), clientPort, $"client-{i}").Trim())));
            var told = await Task.WhenAll(serving.Select(process => process.StandardOutput.ReadLineAsync().WaitAsync(ProcessTimeout)));
            Assert.Equal(["server-0", "server-1"], heard);
            Assert.Equal(["client-0", "client-1"], told.Select(line => line ?? ""));
            return cgroup.Counters().Minus(before);
        }

        // Within each namespace over its own address: identical tuples in two namespaces, both spliced.
        var own = await ExchangeAsync(i => clients[i], i => clients[i]);
        // To the neighbour on the bridge: the neighbour's address is ambiguous node-wide, so TCP.
        var neighbour = await ExchangeAsync(i => servers[i], i => clients[i]);

        output.WriteLine($"own address: {own}; neighbour: {neighbour}");
        Assert.Equal(4UL, own.SocketsRegistered);
        Assert.Equal(4UL, own.DirectionsSpliced);
        Assert.Equal(0UL, neighbour.SocketsRegistered);
        Assert.Equal(0UL, neighbour.BytesRedirected);
    }

    /// <summary>A server namespace (.1) and a client namespace (.2) on the bridge, both served.</summary>
    private static (BridgedNamespace Server, BridgedNamespace Client) ServeTwoNamespaces(SplicedCgroup cgroup, TestBridge bridge)
    {
        var server = bridge.AddNamespace(1);
        var client = bridge.AddNamespace(2);
        cgroup.Datapath!.ServeNamespace(server.Cookie, [server.Address]);
        cgroup.Datapath.ServeNamespace(client.Cookie, [client.Address]);
        return (server, client);
    }
}
