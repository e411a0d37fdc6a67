using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct sock_key</c> (bpf/include/mesh_types.h): one end of a TCP connection.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct SockKey
{
    public fixed uint LocalIp[4];
    public fixed uint RemoteIp[4];
    public uint LocalPort;
    public uint RemotePort;
    public uint Family;
    public uint Pad;
    public ulong NetnsCookie;

    public readonly IPEndPoint Local => Endpoint(LocalIpSpan, LocalPort);

    public readonly IPEndPoint Remote => Endpoint(RemoteIpSpan, RemotePort);

    private readonly ReadOnlySpan<byte> LocalIpSpan
    {
        get { fixed (uint* ip = LocalIp) { return new ReadOnlySpan<byte>(ip, 16).ToArray(); } }
    }

    private readonly ReadOnlySpan<byte> RemoteIpSpan
    {
        get { fixed (uint* ip = RemoteIp) { return new ReadOnlySpan<byte>(ip, 16).ToArray(); } }
    }

    private readonly IPEndPoint Endpoint(ReadOnlySpan<byte> address, uint port) =>
        new(Family == AddressFamilies.Inet ? new IPAddress(address[..4]) : new IPAddress(address), (int)port);

    public override readonly string ToString() => $"{Local} -> {Remote} (netns {NetnsCookie})";
}

/// <summary>Linux address family numbers as the kernel stores them in socket contexts.</summary>
public static class AddressFamilies
{
    public const uint Inet = 2;
    public const uint Inet6 = 10;

    public static uint Of(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => Inet,
        AddressFamily.InterNetworkV6 => Inet6,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "only IPv4 and IPv6 are spliced"),
    };
}
