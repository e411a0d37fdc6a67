using System.Net;
using System.Net.Sockets;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Splice;

public sealed class ConcurrencyTests
{
    /// <summary>1,000 connections open at once, each one request and one response, all spliced and correct.</summary>
    [Fact]
    public async Task RequestResponse_ThousandConcurrentConnections_AllCorrect()
    {
        const int connections = 1000;
        const int requestBytes = 4096;
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback, backlog: connections);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var before = cgroup.Counters();

        // The server answers each request with its bytes reversed, so a response cannot be another connection's echo.
        var server = SocketStreams.ServeAsync(listener, connections, async (accepted, token) =>
        {
            var request = await SocketStreams.ReceiveExactlyAsync(accepted, requestBytes, token);
            Array.Reverse(request);
            await SocketStreams.SendAllAsync(accepted, request);
        }, stop.Token);

        var clients = new Socket[connections];
        for (var i = 0; i < connections; i++)
        {
            clients[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await clients[i].ConnectAsync(endpoint, stop.Token);
        }
        var results = await Task.WhenAll(clients.Select(async client =>
        {
            using (client)
            {
                var request = SocketStreams.RandomBytes(requestBytes);
                await SocketStreams.SendAllAsync(client, request);
                var response = await SocketStreams.ReceiveExactlyAsync(client, requestBytes, stop.Token);
                Array.Reverse(request);
                return request.AsSpan().SequenceEqual(response);
            }
        }));
        await server;

        var after = cgroup.Counters();
        Assert.Equal(connections, results.Count(correct => correct));
        Assert.Equal(before.SocketsRegistered + 2 * connections, after.SocketsRegistered);
        Assert.True(after.BytesRedirected - before.BytesRedirected >= (ulong)(connections * requestBytes),
            $"redirected {after.BytesRedirected - before.BytesRedirected} bytes");
    }
}
