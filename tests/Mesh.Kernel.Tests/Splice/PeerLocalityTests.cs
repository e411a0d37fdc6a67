using System.Net;
using System.Net.Sockets;
using Mesh.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>Only connections whose both ends are on this node are spliced; the rest work as plain TCP.</summary>
public sealed class PeerLocalityTests
{
    /// <summary>Echoes one connection on an ephemeral port of argv[1]; prints the port first.</summary>
    internal const string EchoServer = """
        import socket, sys
        server = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], 0))
        server.listen()
        print(server.getsockname()[1], flush=True)
        connection, _ = server.accept()
        while True:
            data = connection.recv(65536)
            if not data:
                break
            connection.sendall(data)
        connection.close()
        """;

    [Fact]
    public async Task Connect_ToPeerInOtherNamespace_IsNotSplicedAndWorks()
    {
        using var cgroup = SplicedCgroup.Create();
        using var netns = TestNetworkNamespace.Create();
        cgroup.Datapath!.SetNodeAddresses(NodeAddresses.Current());
        var server = netns.StartPython(EchoServer, netns.NamespaceAddress.ToString());
        var port = int.Parse(await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) ?? "0");
        var before = cgroup.Counters();
        var payload = SocketStreams.RandomBytes(1024 * 1024);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(netns.NamespaceAddress, port));
        var echo = SocketStreams.ReceiveExactlyAsync(client, payload.Length);
        await SocketStreams.SendAllAsync(client, payload);
        var received = await echo.WaitAsync(TimeSpan.FromSeconds(30));

        var after = cgroup.Counters();
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(received));
        Assert.Equal(before.SocketsRegistered, after.SocketsRegistered);
        Assert.Equal(before.BytesRedirected, after.BytesRedirected);
    }

    [Fact]
    public async Task Connect_ToOwnNonLoopbackAddress_IsSpliced()
    {
        using var cgroup = SplicedCgroup.Create();
        using var netns = TestNetworkNamespace.Create();
        cgroup.Datapath!.SetNodeAddresses(NodeAddresses.Current());
        var before = cgroup.Counters();

        using var pair = await LoopbackPair.ConnectAsync(netns.HostAddress);
        var payload = SocketStreams.RandomBytes(256 * 1024);
        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, payload);

        var after = cgroup.Counters();
        Assert.Equal(before.SocketsRegistered + 2, after.SocketsRegistered);
        Assert.Equal(1UL, after.Minus(before).DirectionsSpliced);
        Assert.Equal((ulong)payload.Length, after.Minus(before).BytesRedirected + after.Minus(before).BytesPassed);
    }
}
