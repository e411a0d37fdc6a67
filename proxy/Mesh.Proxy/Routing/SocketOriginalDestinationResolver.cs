using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>
/// Asks the kernel with getsockopt(SO_ORIGINAL_DST), the interface a proxy behind an iptables REDIRECT
/// uses; Mesh's redirector answers it for connections it diverted. The proxy needs no BPF knowledge.
/// The answer is cached per connection, since every request on it has the same one.
/// </summary>
public sealed class SocketOriginalDestinationResolver : IOriginalDestinationResolver
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80;
    private const int MeshSoSourceCgroup = 0x4d43; // MESH_SO_SOURCE_CGROUP in bpf/include/mesh_types.h
    private static readonly object CacheKey = new();
    private static readonly object SourceCgroupCacheKey = new();

    /// <inheritdoc />
    public IPEndPoint? Resolve(HttpContext context)
    {
        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(CacheKey, out var cached))
        {
            return (IPEndPoint?)cached;
        }
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        var destination = socket is null ? null : Read(socket);
        if (items is not null)
        {
            items[CacheKey] = destination;
        }
        return destination;
    }

    /// <inheritdoc />
    public ulong SourceCgroup(HttpContext context)
    {
        var items = context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (items is not null && items.TryGetValue(SourceCgroupCacheKey, out var cached))
        {
            return (ulong)cached!;
        }
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        var cgroup = socket is null ? 0 : ReadSourceCgroup(socket);
        if (items is not null)
        {
            items[SourceCgroupCacheKey] = cgroup;
        }
        return cgroup;
    }

    /// <summary>
    /// The source cgroup Mesh's redirector recorded when the client connected, through a getsockopt option of its own
    /// (answered by the same cgroup/getsockopt program as SO_ORIGINAL_DST); 0 when it recorded none.
    /// </summary>
    public static ulong ReadSourceCgroup(Socket accepted)
    {
        try
        {
            Span<byte> cgroup = stackalloc byte[sizeof(ulong)];
            var length = accepted.GetRawSocketOption(accepted.AddressFamily == AddressFamily.InterNetwork ? SolIp : SolIpv6, MeshSoSourceCgroup, cgroup);
            return length == sizeof(ulong) ? BinaryPrimitives.ReadUInt64LittleEndian(cgroup) : 0;
        }
        catch (SocketException)
        {
            return 0; // not diverted, or no redirector: no cgroup to tell
        }
    }

    /// <summary>The destination the client dialled before its connect() was diverted, or null when the socket was not diverted.</summary>
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
            var original = new IPAddress(address6.Slice(8, 16));
            return new IPEndPoint(original.IsIPv4MappedToIPv6 ? original.MapToIPv4() : original, BinaryPrimitives.ReadUInt16BigEndian(address6[2..]));
        }
        catch (SocketException)
        {
            return null; // not diverted: the kernel has no original destination for this socket
        }
    }
}
