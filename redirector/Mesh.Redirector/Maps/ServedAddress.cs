using System.Net;
using System.Runtime.InteropServices;

namespace Mesh.Redirector.Maps;

/// <summary>Mirror of <c>struct served_address</c>: a key of the served_addresses map.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ServedAddress
{
    public ulong NetnsCookie;
    public uint Family;
    public fixed uint Addr[4];
    public uint Pad;

    /// <summary>The key for an address local in a namespace, or with cookie 0 for the address's one owner.</summary>
    public static ServedAddress From(ulong netnsCookie, IPAddress address)
    {
        var key = new ServedAddress { NetnsCookie = netnsCookie, Family = AddressFamilies.Of(address.AddressFamily) };
        var bytes = address.GetAddressBytes(); // network order, as the kernel keeps addresses
        bytes.CopyTo(new Span<byte>(key.Addr, 16));
        return key;
    }
}
