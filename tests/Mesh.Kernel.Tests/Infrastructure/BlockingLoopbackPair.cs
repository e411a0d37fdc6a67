using System.Net;
using System.Net.Sockets;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// A connected loopback pair made without any asynchronous call, so both sockets stay in blocking
/// mode: a blocked Send or Receive sleeps in the kernel and the datapath itself wakes it. .NET puts
/// a socket in non-blocking mode for good at its first asynchronous call, after which a blocking
/// call waits for the runtime's one epoll thread instead; on 2 cores shared by hundreds of busy
/// threads that thread gets little CPU and its delays would read as datapath stalls.
/// </summary>
public sealed class BlockingLoopbackPair : IDisposable
{
    private BlockingLoopbackPair(Socket client, Socket server)
    {
        Client = client;
        Server = server;
    }

    public Socket Client { get; }

    public Socket Server { get; }

    /// <summary>Connects to <paramref name="listener"/> and accepts; a blocked call gives up after <paramref name="timeout"/>.</summary>
    public static BlockingLoopbackPair Connect(Socket listener, TimeSpan timeout)
    {
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var client = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // The kernel completes the handshake on its own and queues the connection for accept.
            client.Connect(endpoint);
            var server = listener.Accept();
            foreach (var socket in new[] { client, server })
            {
                socket.SendTimeout = socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
            }
            return new BlockingLoopbackPair(client, server);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
