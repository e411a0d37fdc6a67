using System.Net.Sockets;
using System.Security.Cryptography;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>Reading and writing whole payloads on sockets, as the tests compare them.</summary>
public static class SocketStreams
{
    public static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    public static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, int chunk = 64 * 1024)
    {
        for (var offset = 0; offset < data.Length; offset += chunk)
        {
            var slice = data.Slice(offset, Math.Min(chunk, data.Length - offset));
            while (!slice.IsEmpty)
            {
                slice = slice[await socket.SendAsync(slice)..];
            }
        }
    }

    /// <summary>Reads until <paramref name="length"/> bytes arrived or the peer closed.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int length, CancellationToken cancellation = default)
    {
        var buffer = new byte[length];
        var received = 0;
        while (received < length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, cancellation);
            if (read == 0)
            {
                return buffer[..received];
            }
            received += read;
        }
        return buffer;
    }

    /// <summary>Reads until the peer closes its sending side.</summary>
    public static async Task<byte[]> ReceiveToEndAsync(Socket socket, CancellationToken cancellation = default)
    {
        using var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellation)) > 0)
        {
            all.Write(buffer, 0, read);
        }
        return all.ToArray();
    }

    /// <summary>Sends <paramref name="payload"/> on one socket and checks the other receives exactly it.</summary>
    public static async Task AssertDeliveredAsync(Socket sender, Socket receiver, byte[] payload)
    {
        var receive = ReceiveExactlyAsync(receiver, payload.Length);
        await SendAllAsync(sender, payload);
        var received = await receive.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Sha256(payload), Sha256(received));
    }

    /// <summary>Accepts <paramref name="count"/> connections and runs <paramref name="handle"/> on each, disposing it after.</summary>
    public static async Task ServeAsync(Socket listener, int count, Func<Socket, CancellationToken, Task> handle, CancellationToken cancellation)
    {
        var handlers = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var accepted = await listener.AcceptAsync(cancellation);
            handlers.Add(Task.Run(async () =>
            {
                using (accepted)
                {
                    await handle(accepted, cancellation);
                }
            }, cancellation));
        }
        await Task.WhenAll(handlers);
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
