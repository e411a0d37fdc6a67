using System.Net;
using System.Net.Sockets;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>A connected client socket and the server socket accepted for it, on loopback.</summary>
public sealed class LoopbackPair : IDisposable
{
    private LoopbackPair(Socket client, Socket server)
    {
        Client = client;
        Server = server;
    }

    public Socket Client { get; }

    public Socket Server { get; }

    public static async Task<LoopbackPair> ConnectAsync(IPAddress? address = null)
    {
        using var listener = Listen(address ?? IPAddress.Loopback);
        return await ConnectAsync(listener);
    }

    public static Socket Listen(IPAddress address, int backlog = 1024)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, 0));
        listener.Listen(backlog);
        return listener;
    }

    /// <summary>A port free on 127.0.0.1 right now (bound, then released).</summary>
    public static int FreePort()
    {
        using var probe = Listen(IPAddress.Loopback);
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public static async Task<LoopbackPair> ConnectAsync(Socket listener, IPEndPoint? clientBinding = null)
    {
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var client = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (clientBinding is not null)
        {
            client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            client.Bind(clientBinding);
        }
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(endpoint);
        return new LoopbackPair(client, await accept);
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
