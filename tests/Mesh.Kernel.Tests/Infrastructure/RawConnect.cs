using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// connect(2) straight through libc, returning the errno: .NET reports EPERM and EACCES as the one
/// SocketError.AccessDenied, and the tests must tell the policy's EPERM apart.
/// </summary>
public static partial class RawConnect
{
    public const int Eperm = 1;

    /// <summary>The errno of a blocking connect of a new TCP socket to <paramref name="destination"/>; 0 when it connected.</summary>
    public static int Errno(IPEndPoint destination)
    {
        using var socket = new Socket(destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var address = SocketAddressOf(destination);
        return Connect((int)socket.Handle, address, address.Length) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static byte[] SocketAddressOf(IPEndPoint endpoint)
    {
        var ipv4 = endpoint.AddressFamily == AddressFamily.InterNetwork;
        var address = new byte[ipv4 ? 16 : 28];
        BinaryPrimitives.WriteUInt16LittleEndian(address, (ushort)(ipv4 ? 2 : 10));
        BinaryPrimitives.WriteUInt16BigEndian(address.AsSpan(2), (ushort)endpoint.Port);
        endpoint.Address.GetAddressBytes().CopyTo(address, ipv4 ? 4 : 8);
        return address;
    }

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static partial int Connect(int fd, byte[] address, int length);
}
