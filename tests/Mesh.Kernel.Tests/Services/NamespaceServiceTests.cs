using System.Net;
using System.Net.Sockets;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Services;

/// <summary>The translation across network namespaces: a client in a namespace, and an endpoint in one.</summary>
public sealed class NamespaceServiceTests
{
    private static readonly IPEndPoint Service = new(IPAddress.Parse("10.96.0.30"), 80);

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
