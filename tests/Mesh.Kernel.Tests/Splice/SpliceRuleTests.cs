using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>The correctness rules found by prototyping the splice on this kernel, one test each.</summary>
public sealed class SpliceRuleTests
{
    private const string SameTupleClient = """
        import socket, sys
        server_port, client_port, message = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", server_port))
        server.listen()
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        client.bind(("127.0.0.1", client_port))
        client.connect(("127.0.0.1", server_port))
        accepted, _ = server.accept()
        print("connected", flush=True)
        sys.stdin.readline()
        client.sendall(message)
        print(accepted.recv(100).decode(), flush=True)
        """;

    /// <summary>(a) Two namespaces with the same 127.0.0.1 tuple must not see each other's bytes.</summary>
    [Fact]
    public async Task Send_SameLoopbackTupleInTwoNamespaces_StaysInOwnNamespace()
    {
        using var cgroup = SplicedCgroup.Create();
        using var netns = TestNetworkNamespace.Create();
        var serverPort = LoopbackPair.FreePort();
        var clientPort = LoopbackPair.FreePort();
        var before = cgroup.Counters();

        var inNamespace = netns.StartPython(SameTupleClient, serverPort.ToString(), clientPort.ToString(), "from-namespace");
        Assert.Equal("connected", await inNamespace.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, serverPort));
        listener.Listen();
        using var onHost = await LoopbackPair.ConnectAsync(listener, new IPEndPoint(IPAddress.Loopback, clientPort));

        await inNamespace.StandardInput.WriteLineAsync();
        await inNamespace.StandardInput.FlushAsync();
        await SocketStreams.SendAllAsync(onHost.Client, "from-host"u8.ToArray());
        var hostReceived = await SocketStreams.ReceiveExactlyAsync(onHost.Server, "from-host".Length).WaitAsync(TimeSpan.FromSeconds(10));
        var namespaceReceived = await inNamespace.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("from-host", System.Text.Encoding.ASCII.GetString(hostReceived));
        Assert.Equal("from-namespace", namespaceReceived);
        // All four sockets got an entry of their own: the namespace cookie tells the equal tuples apart.
        Assert.Equal(before.SocketsRegistered + 4, cgroup.Counters().SocketsRegistered);
        Assert.Equal(before.LookupsMissed, cgroup.Counters().LookupsMissed);
    }

    /// <summary>
    /// (b) A direction whose first bytes went through TCP (its peer was not registered yet) is
    /// redirected only once the peer has read every one of them; otherwise redirected bytes would
    /// overtake them. Clients write many small chunks right after connect(), racing the server
    /// side's registration; at least 95 % of the directions end up spliced.
    /// </summary>
    [Fact]
    public async Task Send_SmallChunksRightAfterConnect_ArriveInOrderOnTenThousandConnections()
    {
        const int connections = 10_000;
        const int concurrency = 64;
        const int chunks = 64;
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var before = cgroup.Counters();
        var outOfOrder = 0;

        var server = SocketStreams.ServeAsync(listener, connections, async (accepted, token) =>
        {
            var data = await SocketStreams.ReceiveToEndAsync(accepted, token);
            if (!IsSequence(data, chunks))
            {
                Interlocked.Increment(ref outOfOrder);
            }
            await accepted.SendAsync(BitConverter.GetBytes(data.Length), token);
        }, stop.Token);

        var completed = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, connections), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = stop.Token }, async (_, token) =>
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await client.ConnectAsync(endpoint, token);
            var chunk = new byte[16];
            for (var sequence = 0; sequence < chunks; sequence++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(chunk, sequence);
                await client.SendAsync(chunk, token); // one sendmsg per chunk: each is its own sk_msg verdict
            }
            client.Shutdown(SocketShutdown.Send);
            var echoedLength = await SocketStreams.ReceiveExactlyAsync(client, sizeof(int), token);
            Assert.Equal(chunks * chunk.Length, BitConverter.ToInt32(echoedLength));
            Interlocked.Increment(ref completed);
        });
        await server;

        var after = cgroup.Counters();
        Assert.Equal(connections, completed);
        Assert.Equal(0, outOfOrder);
        var moved = after.Minus(before);
        Assert.True(moved.MessagesRedirected >= connections, $"only {moved.MessagesRedirected} messages were redirected over {connections} connections");
        Assert.True(moved.SplicedDirectionShare >= 0.95, $"spliced {moved.SplicedDirectionShare:P1} of the send directions: {moved}");
    }

    /// <summary>(c) Reload-time work of the agent never removes the entry of a live connection.</summary>
    [Fact]
    public async Task AgentUpdates_WithLiveConnectionAndQueuedBytes_KeepEntryAndDeliverEverything()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync();
        var queued = SocketStreams.RandomBytes(128 * 1024);
        await SocketStreams.SendAllAsync(pair.Client, queued);
        var entriesBefore = cgroup.Datapath!.SpliceSocketCount();

        cgroup.Datapath.SetNodeAddresses([IPAddress.Parse("192.0.2.10")]);
        cgroup.Datapath.SetNodeAddresses([]);
        cgroup.Datapath.SetEnabled(true);

        Assert.Equal(2, entriesBefore);
        Assert.Equal(entriesBefore, cgroup.Datapath.SpliceSocketCount());
        var more = SocketStreams.RandomBytes(64 * 1024);
        var receive = SocketStreams.ReceiveExactlyAsync(pair.Server, queued.Length + more.Length);
        await SocketStreams.SendAllAsync(pair.Client, more);
        var received = await receive.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SocketStreams.Sha256([.. queued, .. more]), SocketStreams.Sha256(received));
    }

    /// <summary>
    /// (c') A socket's kernel address leaves splice_peers when the socket reaches TCP_CLOSE, before the
    /// kernel frees it: after 1,000 spliced connections opened and closed the map is where it started.
    /// </summary>
    [Fact]
    public async Task OpenAndClose_ThousandSplicedConnections_LeaveSplicePeersAtItsStartingCount()
    {
        const int connections = 1000;
        using var cgroup = SplicedCgroup.Create();
        using var peers = cgroup.OpenPeers();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        var payload = SocketStreams.RandomBytes(4 * 1024);
        var starting = peers.Keys<SockKey>().Count;
        var whileOpen = 0;
        var before = cgroup.Counters();

        for (var i = 0; i < connections; i++)
        {
            using var pair = await LoopbackPair.ConnectAsync(listener);
            await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, payload);
            whileOpen = Math.Max(whileOpen, peers.Keys<SockKey>().Count);
        }
        // Both ends closed: the client reaches TCP_CLOSE on entering TIME_WAIT, the server on the last ACK.
        await TcpProbe.WaitUntilAsync(() => peers.Keys<SockKey>().Count == starting, TimeSpan.FromSeconds(10),
            $"splice_peers was back at its {starting} entries");

        var moved = cgroup.Counters().Minus(before);
        Assert.Equal(starting + 2, whileOpen); // each connection's two ends were there while it was open
        Assert.Equal((ulong)(2 * connections), moved.SocketsRegistered);
        Assert.Equal((ulong)(connections * payload.Length), moved.BytesRedirected);
        Assert.Equal(starting, peers.Keys<SockKey>().Count);
    }

    /// <summary>(d) When the peer is not in the map the message passes to TCP; it is never dropped.</summary>
    [Fact]
    public async Task Send_PeerNotRegistered_PassesEveryByteToTcp()
    {
        using var cgroup = SplicedCgroup.Create();
        // A listener made outside the cgroup: its accepted sockets are not registered, the client is.
        using var listener = cgroup.Outside(() => LoopbackPair.Listen(IPAddress.Loopback));
        var before = cgroup.Counters();
        using var pair = await LoopbackPair.ConnectAsync(listener);
        var payload = SocketStreams.RandomBytes(1024 * 1024);

        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, payload);

        var after = cgroup.Counters();
        Assert.Equal(before.SocketsRegistered + 1, after.SocketsRegistered);
        Assert.True(after.LookupsMissed > before.LookupsMissed);
        Assert.Equal(after.MessagesPassed - before.MessagesPassed, after.LookupsMissed - before.LookupsMissed);
        Assert.True(after.BytesPassed - before.BytesPassed >= (ulong)payload.Length);
        Assert.Equal(before.BytesRedirected, after.BytesRedirected);
    }

    /// <summary>(e) Ports are stored in host order for both ends, whatever order the context gives them in.</summary>
    [Fact]
    public async Task Register_Connection_KeysCarryHostOrderPortsOfBothEnds()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync();
        var client = (IPEndPoint)pair.Client.LocalEndPoint!;
        var server = (IPEndPoint)pair.Server.LocalEndPoint!;

        using var sockets = cgroup.OpenSockets();
        var keys = sockets.Keys<SockKey>();

        Assert.Contains(keys, key => key.Local.Equals(client) && key.Remote.Equals(server));
        Assert.Contains(keys, key => key.Local.Equals(server) && key.Remote.Equals(client));
        Assert.All(keys, key => Assert.Equal(AddressFamilies.Inet, key.Family));
    }

    /// <summary>A dual-stack client (IPv6 socket, IPv4-mapped addresses) meets an IPv4 server under one key.</summary>
    [Fact]
    public async Task Send_DualStackClientToIpv4Server_IsSpliced()
    {
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), ((IPEndPoint)listener.LocalEndPoint!).Port));
        using var server = await accept;
        var before = cgroup.Counters();
        var payload = SocketStreams.RandomBytes(64 * 1024);

        await SocketStreams.AssertDeliveredAsync(client, server, payload);

        Assert.True(cgroup.Counters().BytesRedirected - before.BytesRedirected >= (ulong)payload.Length);
    }

    [Fact]
    public async Task Send_Ipv6Loopback_IsSpliced()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync(IPAddress.IPv6Loopback);
        var before = cgroup.Counters();
        var payload = SocketStreams.RandomBytes(64 * 1024);

        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, payload);

        Assert.True(cgroup.Counters().BytesRedirected - before.BytesRedirected >= (ulong)payload.Length);
    }

    private static bool IsSequence(byte[] data, int chunks)
    {
        if (data.Length != chunks * 16)
        {
            return false;
        }
        for (var sequence = 0; sequence < chunks; sequence++)
        {
            if (BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(sequence * 16)) != sequence)
            {
                return false;
            }
        }
        return true;
    }

}
