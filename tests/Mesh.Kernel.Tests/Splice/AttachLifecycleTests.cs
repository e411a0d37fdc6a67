using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>Attaching and detaching the splice under live connections.</summary>
public sealed class AttachLifecycleTests
{
    [Fact]
    public async Task Connection_OpenedBeforeAttach_KeepsWorkingAfterAttachAndAfterDetach()
    {
        using var cgroup = SplicedCgroup.CreateDetached();
        using var early = await LoopbackPair.ConnectAsync();
        await AssertRoundTripAsync(early);

        var datapath = cgroup.Attach();
        var afterAttach = datapath.ReadCounters();
        await AssertRoundTripAsync(early);
        // The early connection was never registered, so attaching changed nothing for it...
        Assert.Equal(afterAttach, datapath.ReadCounters());
        // ...while a connection opened now is spliced.
        using var late = await LoopbackPair.ConnectAsync();
        await AssertRoundTripAsync(late);
        Assert.True(datapath.ReadCounters().BytesRedirected > afterAttach.BytesRedirected);

        cgroup.Detach();
        await AssertRoundTripAsync(early);
        await AssertRoundTripAsync(late);
        using var afterDetach = await LoopbackPair.ConnectAsync();
        await AssertRoundTripAsync(afterDetach);
    }

    /// <summary>Sends a payload each way and checks both arrive intact.</summary>
    private static async Task AssertRoundTripAsync(LoopbackPair pair)
    {
        var request = SocketStreams.RandomBytes(200 * 1024);
        var response = SocketStreams.RandomBytes(100 * 1024);
        var serverReceive = SocketStreams.ReceiveExactlyAsync(pair.Server, request.Length);
        await SocketStreams.SendAllAsync(pair.Client, request);
        Assert.Equal(SocketStreams.Sha256(request), SocketStreams.Sha256(await serverReceive.WaitAsync(TimeSpan.FromSeconds(10))));
        var clientReceive = SocketStreams.ReceiveExactlyAsync(pair.Client, response.Length);
        await SocketStreams.SendAllAsync(pair.Server, response);
        Assert.Equal(SocketStreams.Sha256(response), SocketStreams.Sha256(await clientReceive.WaitAsync(TimeSpan.FromSeconds(10))));
    }
}
