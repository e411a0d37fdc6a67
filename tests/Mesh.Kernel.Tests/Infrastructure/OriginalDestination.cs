using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>getsockopt(SO_ORIGINAL_DST) on an accepted socket, as a proxy behind a redirect asks it.</summary>
public static class OriginalDestination
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80;

    /// <summary>The destination the client dialled, or null when the kernel has none for this socket.</summary>
    public static IPEndPoint? Read(Socket accepted)
    {
        try
        {
            if (accepted.AddressFamily == AddressFamily.InterNetwork)
            {
                Span<byte> address = stackalloc byte[16]; // struct sockaddr_in
                accepted.GetRawSocketOption(SolIp, SoOriginalDst, address);
                return new IPEndPoint(new IPAddress(address.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(address[2..]));
            }
            Span<byte> address6 = stackalloc byte[28]; // struct sockaddr_in6
            accepted.GetRawSocketOption(SolIpv6, SoOriginalDst, address6);
            return new IPEndPoint(new IPAddress(address6.Slice(8, 16)), BinaryPrimitives.ReadUInt16BigEndian(address6[2..]));
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
