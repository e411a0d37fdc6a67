using System.Net.Sockets;

namespace Mesh.Datapath.Programs;

/// <summary>The network namespace this process runs in, identified as the BPF programs see it.</summary>
public static class NetworkNamespace
{
    private const int SolSocket = 1;
    private const int SoNetnsCookie = 71;

    /// <summary>The namespace's cookie, the value bpf_get_netns_cookie() returns for its sockets (Linux 5.14+).</summary>
    public static ulong CurrentCookie()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> cookie = stackalloc byte[sizeof(ulong)];
        socket.GetRawSocketOption(SolSocket, SoNetnsCookie, cookie);
        return BitConverter.ToUInt64(cookie);
    }
}
