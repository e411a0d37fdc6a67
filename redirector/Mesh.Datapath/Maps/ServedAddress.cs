using System.Net;
using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct served_address</c>: a key of the served_addresses map.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ServedAddress : IEquatable<ServedAddress>
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

    // Compared and hashed as the bytes the kernel compares: the runtime's default for a struct with
    // a fixed buffer would see only the buffer's first element, so IPv6 addresses with the same
    // first 32 bits would collide.
    public readonly bool Equals(ServedAddress other) => Bytes(this).SequenceEqual(Bytes(other));

    public override readonly bool Equals(object? obj) => obj is ServedAddress other && Equals(other);

    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes(this));
        return hash.ToHashCode();
    }

    private static ReadOnlySpan<byte> Bytes(in ServedAddress key) =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<ServedAddress>(in key)).ToArray();
}
