using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.L4;

/// <summary>
/// L4 rules for local workloads, enforced where sockets are made: a denied connect() or sendmsg()
/// fails with EPERM at once, an allowed one goes through, and a rule added at run time cuts the
/// established connections it covers, spliced or not.
/// </summary>
public sealed class LocalPolicyTests(ITestOutputHelper output)
{

    [Fact]
    public async Task Connect_ToDeniedDestination_FailsWithEpermInUnder10Ms_AndAllowedOneConnects()
    {
        using var cgroup = SplicedCgroup.Create();
        using var denied = LoopbackPair.Listen(IPAddress.Loopback);
        using var allowed = LoopbackPair.Listen(IPAddress.Loopback);
        var l4 = cgroup.AttachL4(DenyTcp("127.0.0.1", Port(denied)));

        var timings = new List<double>();
        for (var attempt = 0; attempt < 21; attempt++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(denied.LocalEndPoint!));
            timings.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Equal(SocketError.AccessDenied, error.SocketErrorCode);
        }
        using (var pair = await LoopbackPair.ConnectAsync(allowed))
        {
            await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, SocketStreams.RandomBytes(4096));
        }

        Assert.Equal(RawConnect.Eperm, RawConnect.Errno((IPEndPoint)denied.LocalEndPoint!));
        timings.Sort();
        output.WriteLine($"connect() to a denied destination: EPERM after median {timings[timings.Count / 2]:F3} ms, max {timings[^1]:F3} ms (21 tries)");
        Assert.True(timings[timings.Count / 2] < 10, $"median time to EPERM {timings[timings.Count / 2]:F3} ms");
        var stats = l4.ReadStats();
        Assert.Equal(22UL, stats.Rules.Single().Stats.SocketCalls);
        Assert.True(stats.Default.SocketCalls >= 1);
    }

    [Fact]
    public async Task SendTo_DeniedUdpDestination_FailsWithEperm_AndAllowedOneArrives()
    {
        using var cgroup = SplicedCgroup.Create();
        using var deniedReceiver = BoundUdp();
        using var allowedReceiver = BoundUdp();
        cgroup.AttachL4(L4Policies.Parse($"""
            l4:
              rules:
                - action: deny
                  to: 127.0.0.1
                  protocol: udp
                  ports: {Port(deniedReceiver)}
            """));
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        var error = Assert.Throws<SocketException>(() => sender.SendTo("denied"u8.ToArray(), deniedReceiver.LocalEndPoint!));
        sender.SendTo("allowed"u8.ToArray(), allowedReceiver.LocalEndPoint!);

        Assert.Equal(SocketError.AccessDenied, error.SocketErrorCode);
        var buffer = new byte[64];
        allowedReceiver.ReceiveTimeout = 2000;
        Assert.Equal("allowed", System.Text.Encoding.ASCII.GetString(buffer, 0, allowedReceiver.Receive(buffer)));
        Assert.Equal(0, deniedReceiver.Available);
    }

    [Fact]
    public async Task Connect_OverIpv6AndDualStack_IsJudgedByTheRulesOfItsFamily()
    {
        using var cgroup = SplicedCgroup.Create();
        using var ipv6 = LoopbackPair.Listen(IPAddress.IPv6Loopback);
        using var ipv4 = LoopbackPair.Listen(IPAddress.Loopback);
        cgroup.AttachL4(L4Policies.Parse($"""
            l4:
              rules:
                - name: deny-v6
                  action: deny
                  to: ::1
                  protocol: tcp
                  ports: {Port(ipv6)}
                - name: deny-v4
                  action: deny
                  to: 127.0.0.0/8
                  protocol: tcp
                  ports: {Port(ipv4)}
            """));

        var refused6 = RawConnect.Errno((IPEndPoint)ipv6.LocalEndPoint!);
        var refusedMapped = RawConnect.Errno(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), Port(ipv4)));
        using var allowedDualStack = await LoopbackPair.ConnectAsync(LoopbackPair.Listen(IPAddress.IPv6Loopback));

        Assert.Equal((RawConnect.Eperm, RawConnect.Eperm), (refused6, refusedMapped));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task DenyRuleAddedAtRunTime_CutsARunningTransferWithin1s(bool spliced)
    {
        using var cgroup = SplicedCgroup.Create(spliceEnabled: spliced);
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        var l4 = cgroup.AttachL4(L4Policies.Parse("l4: {default: allow}"));
        using var pair = await LoopbackPair.ConnectAsync(listener);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var reader = DrainAsync(pair.Server, stop.Token);
        var writer = WriteUntilFailureAsync(pair.Client, stop.Token);
        await Task.Delay(300);
        Assert.False(writer.IsCompleted, "the transfer must be running when the rule changes");

        var clock = Stopwatch.StartNew();
        l4.Apply(DenyTcp("127.0.0.1", Port(listener)));
        var failure = await writer.WaitAsync(TimeSpan.FromSeconds(5));
        var cutAfter = clock.Elapsed;
        await reader.WaitAsync(TimeSpan.FromSeconds(5));

        output.WriteLine($"{(spliced ? "spliced" : "TCP")} transfer cut {cutAfter.TotalMilliseconds:F1} ms after the rule change began");
        Assert.True(cutAfter < TimeSpan.FromSeconds(1), $"transfer cut after {cutAfter.TotalMilliseconds:F0} ms");
        Assert.NotNull(failure);
        Assert.True(l4.ReadStats().Rules.Single().Stats.SocketsDestroyed >= 1);
        Assert.Equal(RawConnect.Eperm, RawConnect.Errno((IPEndPoint)listener.LocalEndPoint!));
    }

    [Fact]
    public async Task Sweep_LeavesAllowedConnectionsAndOtherCgroupsAlone()
    {
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        using var other = LoopbackPair.Listen(IPAddress.Loopback);
        var l4 = cgroup.AttachL4(L4Policies.Parse("l4: {default: allow}"));
        using var allowedPair = await LoopbackPair.ConnectAsync(other);
        // Made outside the workload cgroup: a deny rule's sweep must not touch it.
        using var outsidePair = await cgroup.Outside(() => LoopbackPair.ConnectAsync(listener));

        l4.Apply(DenyTcp("127.0.0.1", Port(listener)));

        await SocketStreams.AssertDeliveredAsync(allowedPair.Client, allowedPair.Server, SocketStreams.RandomBytes(64 * 1024));
        await SocketStreams.AssertDeliveredAsync(outsidePair.Client, outsidePair.Server, SocketStreams.RandomBytes(64 * 1024));
        Assert.Equal(0UL, l4.ReadStats().Rules.Single().Stats.SocketsDestroyed);
    }

    [Fact]
    public async Task Connect_WithL7DiversionAttachedAfter_IsJudgedOnTheDialledAddress()
    {
        using var cgroup = SplicedCgroup.Create();
        using var proxy = LoopbackPair.Listen(IPAddress.Loopback);
        var deniedService = new IPEndPoint(IPAddress.Parse("127.0.0.21"), 8080);
        var allowedService = new IPEndPoint(IPAddress.Parse("127.0.0.22"), 8080);
        cgroup.AttachL4(DenyTcp(deniedService.Address.ToString(), deniedService.Port));
        var divert = cgroup.AttachDivert((IPEndPoint)proxy.LocalEndPoint!);
        divert.SetServices([deniedService, allowedService]);

        var refused = RawConnect.Errno(deniedService);
        using var allowedClient = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await allowedClient.ConnectAsync(allowedService);
        using var accepted = await proxy.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(RawConnect.Eperm, refused);
        Assert.Equal(allowedService, Mesh.Proxy.Routing.SocketOriginalDestinationResolver.Read(accepted));
    }

    private static Mesh.Config.L4Policy DenyTcp(string address, int port) => L4Policies.Parse($"""
        l4:
          rules:
            - name: deny-it
              action: deny
              to: {address}
              protocol: tcp
              ports: {port}
        """);

    private static int Port(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;

    private static Socket BoundUdp()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    private static async Task DrainAsync(Socket socket, CancellationToken cancellation)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellation) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset by the cut: what the test waits for on the other side.
        }
    }

    /// <summary>Writes until the connection fails, returning the error; bounded by <paramref name="cancellation"/>.</summary>
    private static async Task<SocketException?> WriteUntilFailureAsync(Socket socket, CancellationToken cancellation)
    {
        var chunk = SocketStreams.RandomBytes(16 * 1024);
        try
        {
            while (!cancellation.IsCancellationRequested)
            {
                await socket.SendAsync(chunk, SocketFlags.None, cancellation);
                await Task.Delay(1, cancellation);
            }
            return null;
        }
        catch (SocketException error)
        {
            return error;
        }
    }
}
