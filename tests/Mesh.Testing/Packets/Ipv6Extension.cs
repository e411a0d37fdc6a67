using System.Buffers.Binary;

namespace Mesh.Testing.Packets;

/// <summary>
/// One IPv6 extension header (RFC 8200 section 4) for <see cref="FrameBuilder.Ipv6"/>. The builder
/// writes each header's Next Header byte, so that the chain always ends at the upper-layer protocol.
/// </summary>
public sealed class Ipv6Extension
{
    private readonly byte[] afterNextHeader;

    private Ipv6Extension(byte protocol, byte[] afterNextHeader)
    {
        Protocol = protocol;
        this.afterNextHeader = afterNextHeader;
    }

    /// <summary>The protocol number that names this header in the previous header's Next Header field.</summary>
    public byte Protocol { get; }

    /// <summary>The header's length on the wire.</summary>
    public int Length => 1 + afterNextHeader.Length;

    /// <summary>Hop-by-Hop Options (0): Hdr Ext Len 0 and one PadN option filling the 8 bytes.</summary>
    public static Ipv6Extension HopByHop => new(0, PaddedOptions);

    /// <summary>
    /// Routing (43): 8 bytes, Routing Type 0 with Segments Left 0 and no addresses; a node must
    /// ignore a routing header whose Segments Left is 0 (RFC 8200 4.4), so it only has to be skipped.
    /// </summary>
    public static Ipv6Extension Routing => new(43, [0, 0, 0, 0, 0, 0, 0]);

    /// <summary>Destination Options (60): Hdr Ext Len 0 and one PadN option filling the 8 bytes.</summary>
    public static Ipv6Extension DestinationOptions => new(60, PaddedOptions);

    /// <summary>
    /// Authentication Header (51, RFC 4302): 12 bytes with no ICV; its Payload Len counts 4-byte
    /// words minus 2, so it is 1, unlike the other headers, whose length counts 8-byte units minus 1.
    /// </summary>
    public static Ipv6Extension AuthenticationHeader(uint spi = 0x100, uint sequence = 1)
    {
        var rest = new byte[11];
        rest[0] = 12 / 4 - 2;
        BinaryPrimitives.WriteUInt32BigEndian(rest.AsSpan(3), spi);
        BinaryPrimitives.WriteUInt32BigEndian(rest.AsSpan(7), sequence);
        return new(51, rest);
    }

    /// <summary>Fragment (44): 8 bytes; <paramref name="offset"/> in 8-byte units (0..8191), M flag, identification.</summary>
    public static Ipv6Extension Fragment(int offset, bool more, uint identification = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, 8191);
        var rest = new byte[7];
        BinaryPrimitives.WriteUInt16BigEndian(rest.AsSpan(1), (ushort)(offset << 3 | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(rest.AsSpan(3), identification);
        return new(44, rest);
    }

    internal byte[] Encode(byte nextHeader) => [nextHeader, .. afterNextHeader];

    // Hdr Ext Len 0 (8 bytes in all), then PadN (type 1) with 4 bytes of zeros.
    private static byte[] PaddedOptions => [0, 1, 4, 0, 0, 0, 0];
}
