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
        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, SocketStreams.RandomBytes(200 * 1024));
        await SocketStreams.AssertDeliveredAsync(pair.Server, pair.Client, SocketStreams.RandomBytes(100 * 1024));
    }
}
