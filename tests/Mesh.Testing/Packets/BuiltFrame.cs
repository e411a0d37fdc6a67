namespace Mesh.Testing.Packets;

/// <summary>
/// A frame from <see cref="FrameBuilder.Build"/> with the offsets of its parts.
/// </summary>
/// <param name="Bytes">The whole frame, from the destination MAC on (no preamble, no FCS).</param>
/// <param name="L3Offset">Where the EtherType's payload starts, after the Ethernet header and any VLAN tags.</param>
/// <param name="L4Offset">Where the TCP, UDP or ICMP header starts, after any IPv6 extension headers; -1 if there is none.</param>
/// <param name="PayloadOffset">Where the payload starts: the end of the last header.</param>
/// <param name="HeaderBoundaries">
/// The offset at which each header ends, in wire order: the Ethernet header (14 bytes, up to and
/// including the first TPID or the EtherType), each 4-byte VLAN tag (TCI and the next TPID or
/// EtherType), the IPv4 header with its options or the IPv6 fixed header, each IPv6 extension
/// header, then the L4 header. Each header starts where the previous one ends, the first at 0, so
/// the list is strictly ascending, never holds 0, and ends with <see cref="PayloadOffset"/> (which
/// is Bytes.Length only when the payload is empty). Truncating at each boundary, or one byte short
/// of it, is what checks a parser's bounds checks.
/// </param>
public sealed record BuiltFrame(byte[] Bytes, int L3Offset, int L4Offset, int PayloadOffset, IReadOnlyList<int> HeaderBoundaries)
{
    /// <summary>A copy of the first <paramref name="length"/> bytes of the frame.</summary>
    public byte[] TruncatedAt(int length) => Frame.Truncate(Bytes, length);
}
