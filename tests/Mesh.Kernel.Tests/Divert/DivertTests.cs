using System.Net;
using System.Net.Sockets;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Proxy.Routing;

namespace Mesh.Kernel.Tests.Divert;

/// <summary>
/// connect() to a service with HTTP policy lands on the node proxy's listener, which learns the
/// original destination through SO_ORIGINAL_DST; everything else connects where it dialled.
/// </summary>
public sealed class DivertTests
{
    private static readonly IPAddress ServiceAddress = IPAddress.Parse("127.0.0.10");

    [Fact]
    public async Task Connect_ToServiceWithPolicy_LandsOnProxyWithOriginalDestination()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        var service = new IPEndPoint(ServiceAddress, 8080);
        divert.SetServices([service]);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(service);
        using var accepted = await proxy.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(service, SocketOriginalDestinationResolver.Read(accepted));
        // The client still believes it talks to the service; bytes flow both ways through the proxy socket.
        Assert.Equal(service, client.RemoteEndPoint);
        await SocketStreams.AssertDeliveredAsync(client, accepted, SocketStreams.RandomBytes(64 * 1024));
        await SocketStreams.AssertDeliveredAsync(accepted, client, SocketStreams.RandomBytes(64 * 1024));
        var counters = divert.ReadCounters();
        Assert.Equal((1UL, 1UL, 1UL), (counters.Connections, counters.Established, counters.OriginalDstAnswered));
    }

    [Fact]
    public async Task Connect_ToServiceWithoutPolicy_GoesWhereDialledAndIsSpliced()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        divert.SetServices([new IPEndPoint(ServiceAddress, 8080)]);
        var before = cgroup.Counters();

        using var pair = await LoopbackPair.ConnectAsync();
        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, SocketStreams.RandomBytes(64 * 1024));

        Assert.Null(SocketOriginalDestinationResolver.Read(pair.Server));
        Assert.Equal(0UL, divert.ReadCounters().Connections);
        Assert.True(cgroup.Counters().BytesRedirected - before.BytesRedirected >= 64 * 1024);
    }

    [Fact]
    public async Task Connect_FromTheProxysUser_IsNotDivertedBack()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        using var upstream = LoopbackPair.Listen(ServiceAddress);
        var service = (IPEndPoint)upstream.LocalEndPoint!;
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        divert.SetServices([service]);

        // A process of the proxy's uid, in the cgroup as this one is, calls the service as the proxy calls upstreams.
        var connect = ProxyUserConnect.SendAsync(SplicedCgroup.ProxyUid, service, "from-the-proxy");
        using var accepted = await upstream.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));
        var buffer = new byte[64];
        var received = await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(5));
        await connect;

        Assert.Equal("from-the-proxy", System.Text.Encoding.ASCII.GetString(buffer, 0, received));
        Assert.Equal((0UL, 1UL), (divert.ReadCounters().Connections, divert.ReadCounters().ProxyConnectionsSkipped));
    }

    [Fact]
    public async Task Connect_DualStackClientToIpv4Service_IsDivertedWithIpv4OriginalDestination()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        var service = new IPEndPoint(ServiceAddress, 8081);
        divert.SetServices([service]);

        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        await client.ConnectAsync(new IPEndPoint(ServiceAddress.MapToIPv6(), service.Port));
        using var accepted = await proxy.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(service, SocketOriginalDestinationResolver.Read(accepted));
        await SocketStreams.AssertDeliveredAsync(client, accepted, SocketStreams.RandomBytes(4096));
    }

    [Fact]
    public async Task Connect_ToIpv6Service_IsDivertedToIpv6Listener()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        var port = ((IPEndPoint)proxy.LocalEndPoint!).Port;
        using var proxy6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = false };
        proxy6.Bind(new IPEndPoint(IPAddress.IPv6Loopback, port));
        proxy6.Listen();
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        var service = new IPEndPoint(IPAddress.Parse("::1"), 8082);
        divert.SetServices([service]);

        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(service);
        using var accepted = await proxy6.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(service, SocketOriginalDestinationResolver.Read(accepted));
    }

    [Fact]
    public async Task SetServices_RemovingService_StopsDivertingNewConnectionsAndKeepsOpenOnes()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        using var direct = LoopbackPair.Listen(ServiceAddress);
        var service = (IPEndPoint)direct.LocalEndPoint!;
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        divert.SetServices([service]);
        using var early = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await early.ConnectAsync(service);
        using var earlyAccepted = await proxy.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

        divert.SetServices([]);

        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await late.ConnectAsync(service);
        using var lateAccepted = await direct.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));
        await SocketStreams.AssertDeliveredAsync(late, lateAccepted, SocketStreams.RandomBytes(1024));
        await SocketStreams.AssertDeliveredAsync(early, earlyAccepted, SocketStreams.RandomBytes(1024));
        Assert.Equal(1UL, divert.ReadCounters().Connections);
    }
}
