using System.Net;
using System.Net.Sockets;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Services;

/// <summary>The translation across network namespaces: a client in a namespace, and an endpoint in one.</summary>
public sealed class NamespaceServiceTests(ITestOutputHelper output)
{
    private static readonly IPEndPoint Service = new(IPAddress.Parse("10.96.0.30"), 80);
    private static readonly IPEndPoint Service6 = new(IPAddress.Parse("fd00:96::30"), 80);

    /// <summary>Connects to the service given as arguments and prints the peer getpeername() names.</summary>
    private const string PeerNameClient = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
        print("%s:%d" % s.getpeername(), flush=True)
        s.close()
        """;

    /// <summary>Accepts one connection at the address given as argument and prints its client's address.</summary>
    private const string OneShotServer = """
        import socket, sys
        l = socket.socket(); l.bind((sys.argv[1], 0)); l.listen()
        print(l.getsockname()[1], flush=True)
        c, peer = l.accept()
        print(peer[0], flush=True)
        """;

    /// <summary>Prints the peer getpeername() names ([address]:port), sends argv[3] bytes and checks they come back in order.</summary>
    private const string EchoClient6 = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
        print("[%s]:%d" % s.getpeername()[:2], flush=True)
        message = bytes(i % 251 for i in range(int(sys.argv[3])))
        s.sendall(message)
        echoed = b""
        while len(echoed) < len(message):
            echoed += s.recv(len(message) - len(echoed))
        print("intact" if echoed == message else "corrupted", flush=True)
        """;

    /// <summary>Accepts one connection at the IPv6 address given, prints its port then its client's address, and echoes.</summary>
    private const string EchoServer6 = """
        import socket, sys
        l = socket.socket(socket.AF_INET6); l.bind((sys.argv[1], 0)); l.listen()
        print(l.getsockname()[1], flush=True)
        c, peer = l.accept()
        print(peer[0], flush=True)
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
        """;

    [Fact]
    public async Task Connect_FromANamespaceToAnIpv6Service_GoesToTheEndpointInAnotherNamespace_SplicedAndShowingTheService()
    {
        const int Size = 32 * 1024; // within a receive buffer, so the splice never hands it back to TCP
        using var node = ServiceNode.Create();
        using var bridge = TestBridge.Create();
        var client = bridge.AddNamespace(1);
        var server = bridge.AddNamespace(2);
        foreach (var netns in new[] { client, server })
        {
            node.Cgroup.Datapath!.ServeNamespace(netns.Cookie, [netns.Address, netns.Address6]);
        }
        var serving = server.StartPython(EchoServer6, server.Address6.ToString());
        var port = int.Parse((await serving.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!);
        node.Set(new BalancedService(Service6, ProtocolType.Tcp, [new WeightedEndpoint(new IPEndPoint(server.Address6, port))]));
        var before = node.Cgroup.Counters();

        var answers = client.RunPython(EchoClient6, Service6.Address.ToString(), Service6.Port.ToString(), Size.ToString()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        var moved = node.Cgroup.Counters().Minus(before);
        output.WriteLine($"client: {string.Join(" | ", answers)}; counters {moved}");
        Assert.Equal(new[] { Service6.ToString(), "intact" }, answers);
        Assert.Equal(client.Address6.ToString(), await serving.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(node.Table.ReadCounters().Translated >= 1);
        Assert.Equal(2UL, moved.SocketsRegistered);
        Assert.True(moved.BytesRedirected >= 2UL * Size, $"{moved}");
    }

    [Fact]
    public async Task Connect_FromANamespaceToTheServiceAddress_GoesToTheEndpointOnTheHostAndShowsTheService()
    {
        using var node = ServiceNode.Create();
        using var netns = TestNetworkNamespace.Create();
        using var endpoint = new CountingEndpoint(netns.HostAddress);
        node.Set(new BalancedService(Service, ProtocolType.Tcp, [endpoint.Weighted()]));

        // The process joins the namespace but stays in the cgroup, whose connect programs translate its connect().
        var client = netns.StartPython(PeerNameClient, Service.Address.ToString(), Service.Port.ToString());
        var peer = await client.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(peer == Service.ToString(), $"the client saw {peer ?? "nothing"}: {await client.StandardError.ReadToEndAsync()}");
        await ServiceTranslationTests.WaitForAsync(() => endpoint.CountFrom(netns.NamespaceAddress) == 1);
    }

    [Fact]
    public async Task Connect_FromTheHostToTheServiceAddress_GoesToTheEndpointInANamespace()
    {
        using var node = ServiceNode.Create();
        using var netns = TestNetworkNamespace.Create();
        var server = node.Cgroup.Outside(() => netns.StartPython(OneShotServer, netns.NamespaceAddress.ToString()));
        var port = int.Parse((await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!);
        node.Set(new BalancedService(Service, ProtocolType.Tcp, [new WeightedEndpoint(new IPEndPoint(netns.NamespaceAddress, port))]));

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(Service);

        Assert.Equal(Service, client.RemoteEndPoint);
        Assert.Equal(netns.HostAddress.ToString(), await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
