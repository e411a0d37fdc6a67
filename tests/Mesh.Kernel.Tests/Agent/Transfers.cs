using System.Net.Sockets;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>Payloads sent over a connected pair with a time limit, compared by SHA-256.</summary>
public static class Transfers
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Sends <paramref name="size"/> random bytes client→server, then as many server→client; both must arrive intact.</summary>
    public static async Task AssertBothWaysAsync(LoopbackPair pair, int size, string when)
    {
        await AssertOneWayAsync(pair.Client, pair.Server, size, $"client→server {when}");
        await AssertOneWayAsync(pair.Server, pair.Client, size, $"server→client {when}");
    }

    private static async Task AssertOneWayAsync(Socket sender, Socket receiver, int size, string what)
    {
        var payload = SocketStreams.RandomBytes(size);
        using var deadline = new CancellationTokenSource(Timeout);
        var receive = SocketStreams.ReceiveExactlyAsync(receiver, size, deadline.Token);
        try
        {
            await SocketStreams.SendAllAsync(sender, payload).WaitAsync(deadline.Token);
            var received = await receive;
            Assert.True(received.Length == size, $"{what}: {received.Length} of {size} bytes arrived before the peer closed");
            Assert.True(SocketStreams.Sha256(payload) == SocketStreams.Sha256(received), $"{what}: the {size} bytes arrived corrupted (SHA-256 differs)");
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what}: {size} bytes did not arrive within {Timeout.TotalSeconds:N0} s");
        }
    }
}
