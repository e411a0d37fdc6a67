using System.Net;
using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct node_address</c>: a key of the node_addresses map.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NodeAddress
{
    public uint Family;
    public fixed uint Addr[4];

    public static NodeAddress From(IPAddress address)
    {
        var key = new NodeAddress { Family = AddressFamilies.Of(address.AddressFamily) };
        var bytes = address.GetAddressBytes(); // network order, as the kernel keeps addresses
        bytes.CopyTo(new Span<byte>(key.Addr, 16));
        return key;
    }
}
