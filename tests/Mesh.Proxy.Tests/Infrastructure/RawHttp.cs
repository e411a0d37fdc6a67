using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>What came back on a raw connection: the bytes as text, and how the connection ended.</summary>
/// <param name="Text">Everything read, as Latin-1 (byte for byte).</param>
/// <param name="Closed">The proxy closed the connection (FIN or reset) rather than the read timing out.</param>
/// <param name="Reset">The connection was reset rather than closed cleanly.</param>
internal sealed record RawResponse(string Text, bool Closed, bool Reset)
{
    /// <summary>The status code of each HTTP/1.1 response in <see cref="Text"/>, in order.</summary>
    public IReadOnlyList<int> Statuses =>
        [.. Text.Split("\r\n").Where(line => line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal)).Select(line => int.Parse(line[9..12], System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>The only response's status code; fails when there is not exactly one.</summary>
    public int Status => Assert.Single(Statuses);
}

/// <summary>Writes exact bytes to the proxy over TCP, for requests that no HTTP client would send.</summary>
internal static class RawHttp
{
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    /// <summary>
    /// Connects, writes <paramref name="request"/> (then <paramref name="more"/>, if the connection is still open), and
    /// reads until the proxy closes the connection or <paramref name="timeout"/> passes (default 5 s).
    /// </summary>
    public static async Task<RawResponse> ExchangeAsync(IPEndPoint endPoint, byte[] request, byte[]? more = null, TimeSpan? timeout = null)
    {
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(endPoint);
        var stream = client.GetStream();
        var received = new MemoryStream();
        var reading = ReadToEndAsync(stream, received, timeout ?? TimeSpan.FromSeconds(5));
        try
        {
            await stream.WriteAsync(request);
            if (more is not null)
            {
                await stream.WriteAsync(more);
            }
        }
        catch (IOException)
        {
            // The proxy may close before it has read everything; what it answered is still to be read.
        }

        var (closed, reset) = await reading;
        return new RawResponse(Encoding.Latin1.GetString(received.ToArray()), closed, reset);
    }

    /// <summary>Reads into <paramref name="into"/> until the peer closes (true) or the time is up (false).</summary>
    public static async Task<(bool Closed, bool Reset)> ReadToEndAsync(Stream stream, MemoryStream into, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, cancel.Token);
                if (read == 0)
                {
                    return (true, false);
                }

                into.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            return (false, false);
        }
        catch (IOException)
        {
            return (true, true);
        }
    }
}
