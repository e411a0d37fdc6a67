using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using Mesh.Testing.Packets;

namespace Mesh.Datapath.Tests.Packets;

/// <summary>
/// The frame builder that the XDP tests run programs on: every field is read back from the bytes
/// at its RFC offset, and every checksum is checked by summing it again here.
/// </summary>
public sealed class FrameBuilderTests
{
    private static readonly IPAddress V4Source = IPAddress.Parse("10.0.0.1");
    private static readonly IPAddress V4Destination = IPAddress.Parse("10.0.0.2");
    private static readonly IPAddress V6Source = IPAddress.Parse("fd00::1");
    private static readonly IPAddress V6Destination = IPAddress.Parse("fd00::2");

    [Fact]
    public void EtherType_RawFrame_WritesDefaultMacsTypeAndPayload()
    {
        var frame = Frame.Ethernet().EtherType(0x0806).Payload([1, 2, 3]).Build();

        Assert.Equal(new byte[] { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06, 1, 2, 3 }, frame.Bytes);
        Assert.Equal(14, frame.L3Offset);
        Assert.Equal(-1, frame.L4Offset);
        Assert.Equal(14, frame.PayloadOffset);
        Assert.Equal([14], frame.HeaderBoundaries);
    }

    [Fact]
    public void Ethernet_GivenMacs_WritesThem()
    {
        var frame = Frame.Ethernet(PhysicalAddress.Parse("AA-BB-CC-DD-EE-FF"), PhysicalAddress.Parse("11-22-33-44-55-66")).EtherType(0x88cc).Build();

        Assert.Equal(new byte[] { 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x88, 0xcc }, frame.Bytes);
    }

    [Fact]
    public void Vlan_OneTag_Writes8021QTagBeforeEtherType()
    {
        var frame = Frame.Ethernet().Vlan(100, priority: 5).Ipv4(V4Source, V4Destination).Udp(1, 2).Build();

        Assert.Equal(0x8100, Be16(frame.Bytes, 12));
        Assert.Equal(5 << 13 | 100, Be16(frame.Bytes, 14));
        Assert.Equal(0x0800, Be16(frame.Bytes, 16));
        Assert.Equal(18, frame.L3Offset);
        Assert.Equal(0x45, frame.Bytes[18]);
    }

    [Fact]
    public void Vlan_QinQ_WritesOuter8021adTagThenInner8021QTag()
    {
        var frame = Frame.Ethernet().Vlan(10, outer: true).Vlan(100).Ipv6(V6Source, V6Destination).Build();

        Assert.Equal(0x88a8, Be16(frame.Bytes, 12));
        Assert.Equal(10, Be16(frame.Bytes, 14));
        Assert.Equal(0x8100, Be16(frame.Bytes, 16));
        Assert.Equal(100, Be16(frame.Bytes, 18));
        Assert.Equal(0x86DD, Be16(frame.Bytes, 20));
        Assert.Equal(22, frame.L3Offset);
        Assert.Equal([14, 18, 22, 62], frame.HeaderBoundaries);
    }

    [Fact]
    public void Vlan_IdAbove4095_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Frame.Ethernet().Vlan(4096));

    [Fact]
    public void Ipv4Tcp_Build_WritesHeaderFieldsLengthsAndChecksums()
    {
        byte[] payload = [0xde, 0xad, 0xbe, 0xef, 0x01];
        var frame = Frame.Ethernet()
            .Ipv4(V4Source, V4Destination, ttl: 17)
            .Tcp(sourcePort: 40000, destinationPort: 80, flags: TcpFlags.Syn | TcpFlags.Ack)
            .Payload(payload)
            .Build();
        var bytes = frame.Bytes;

        Assert.Equal(14 + 20 + 20 + 5, bytes.Length);
        Assert.Equal(0x0800, Be16(bytes, 12));
        Assert.Equal(0x45, bytes[14]);
        Assert.Equal(20 + 20 + 5, Be16(bytes, 16));
        Assert.Equal(0, Be16(bytes, 20));
        Assert.Equal(17, bytes[22]);
        Assert.Equal(6, bytes[23]);
        Assert.Equal(V4Source.GetAddressBytes(), bytes[26..30]);
        Assert.Equal(V4Destination.GetAddressBytes(), bytes[30..34]);
        Assert.Equal(0xFFFF, OnesComplementSum(bytes.AsSpan(14, 20)));

        Assert.Equal((14, 34, 54), (frame.L3Offset, frame.L4Offset, frame.PayloadOffset));
        Assert.Equal(40000, Be16(bytes, 34));
        Assert.Equal(80, Be16(bytes, 36));
        Assert.Equal(5 << 4, bytes[34 + 12]);
        Assert.Equal(0x12, bytes[34 + 13]);
        Assert.Equal(payload, bytes[54..]);
        Assert.Equal(0xFFFF, OnesComplementSum([.. Ipv4PseudoHeader(bytes, 14), .. bytes[34..]]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(40)]
    public void Ipv4_Options_AreNopsCountedInIhlAndTotalLength(int options)
    {
        var frame = Frame.Ethernet().Ipv4(V4Source, V4Destination, options: options).Udp(1000, 53).Build();
        var bytes = frame.Bytes;

        Assert.Equal(0x40 | (20 + options) / 4, bytes[14]);
        Assert.Equal(20 + options + 8, Be16(bytes, 16));
        Assert.All(bytes[34..(34 + options)], option => Assert.Equal(1, option));
        Assert.Equal(14 + 20 + options, frame.L4Offset);
        Assert.Equal(0xFFFF, OnesComplementSum(bytes.AsSpan(14, 20 + options)));
    }

    [Theory]
    [InlineData(-4)]
    [InlineData(3)]
    [InlineData(44)]
    public void Ipv4_OptionsNotAMultipleOf4UpTo40_Throws(int options) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Frame.Ethernet().Ipv4(V4Source, V4Destination, options: options));

    [Fact]
    public void Ipv4_Fragment_WritesMoreFragmentsFlagAndOffset()
    {
        var bytes = Frame.Ethernet().Ipv4(V4Source, V4Destination, fragmentOffset: 185, moreFragments: true).Udp(1, 2).Build().Bytes;

        Assert.Equal(0x2000 | 185, Be16(bytes, 20));
        Assert.Equal(0xFFFF, OnesComplementSum(bytes.AsSpan(14, 20)));
    }

    [Fact]
    public void Ipv4_FragmentOffsetAbove8191_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Frame.Ethernet().Ipv4(V4Source, V4Destination, fragmentOffset: 8192));

    [Fact]
    public void Ipv4Udp_OddPayload_WritesUdpLengthAndPseudoHeaderChecksum()
    {
        var bytes = Frame.Ethernet().Ipv4(V4Source, V4Destination).Udp(5353, 53).Payload([1, 2, 3]).Build().Bytes;

        Assert.Equal(17, bytes[23]);
        Assert.Equal(5353, Be16(bytes, 34));
        Assert.Equal(53, Be16(bytes, 36));
        Assert.Equal(8 + 3, Be16(bytes, 38));
        Assert.NotEqual(0, Be16(bytes, 40));
        Assert.Equal(0xFFFF, OnesComplementSum([.. Ipv4PseudoHeader(bytes, 14), .. bytes[34..]]));
    }

    [Fact]
    public void Udp_ChecksumComputingToZero_IsSentAsFfff()
    {
        // Two payload bytes equal to the checksum of the same datagram with a zero payload make the
        // sum 0xFFFF, whose complement 0 UDP must send as 0xFFFF ("no checksum" is 0).
        var zeroPayload = Frame.Ethernet().Ipv4(V4Source, V4Destination).Udp(1, 2).Payload([0, 0]).Build().Bytes;
        var checksum = zeroPayload.AsSpan(40, 2).ToArray();

        var bytes = Frame.Ethernet().Ipv4(V4Source, V4Destination).Udp(1, 2).Payload(checksum).Build().Bytes;

        Assert.Equal(0xFFFF, Be16(bytes, 40));
    }

    [Fact]
    public void Ipv4Icmp_Default_IsEchoRequestWithChecksumOverIcmpOnly()
    {
        var frame = Frame.Ethernet().Ipv4(V4Source, V4Destination).Icmp().Payload([9, 8, 7]).Build();
        var bytes = frame.Bytes;

        Assert.Equal(1, bytes[23]);
        Assert.Equal((8, 0), (bytes[34], bytes[35]));
        Assert.Equal(42, frame.PayloadOffset);
        Assert.Equal(0xFFFF, OnesComplementSum(bytes.AsSpan(34)));
    }

    [Fact]
    public void Ipv4Icmp_TypeAndCode_AreWritten()
    {
        var bytes = Frame.Ethernet().Ipv4(V4Source, V4Destination).Icmp(type: 3, code: 4).Build().Bytes;

        Assert.Equal((3, 4), (bytes[34], bytes[35]));
        Assert.Equal(0xFFFF, OnesComplementSum(bytes.AsSpan(34)));
    }

    [Fact]
    public void Ipv6Tcp_Build_WritesHeaderFieldsAndPseudoHeaderChecksum()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, hopLimit: 9).Tcp(40000, 443).Payload([1, 2, 3, 4]).Build();
        var bytes = frame.Bytes;

        Assert.Equal(0x86DD, Be16(bytes, 12));
        Assert.Equal(0x60, bytes[14] & 0xF0);
        Assert.Equal(20 + 4, Be16(bytes, 18));
        Assert.Equal(6, bytes[20]);
        Assert.Equal(9, bytes[21]);
        Assert.Equal(V6Source.GetAddressBytes(), bytes[22..38]);
        Assert.Equal(V6Destination.GetAddressBytes(), bytes[38..54]);
        Assert.Equal((14, 54, 74), (frame.L3Offset, frame.L4Offset, frame.PayloadOffset));
        Assert.Equal(0x02, bytes[54 + 13]);
        Assert.Equal(0xFFFF, OnesComplementSum([.. Ipv6PseudoHeader(bytes, 14, 6, bytes.Length - 54), .. bytes[54..]]));
    }

    [Fact]
    public void Ipv6Icmp_Default_IsIcmpv6EchoRequestWithPseudoHeaderChecksum()
    {
        var bytes = Frame.Ethernet().Ipv6(V6Source, V6Destination).Icmp().Payload([1, 2, 3]).Build().Bytes;

        Assert.Equal(58, bytes[20]);
        Assert.Equal((128, 0), (bytes[54], bytes[55]));
        Assert.Equal(0xFFFF, OnesComplementSum([.. Ipv6PseudoHeader(bytes, 14, 58, bytes.Length - 54), .. bytes[54..]]));
    }

    [Fact]
    public void Ipv6_ExtensionHeaders_ChainNextHeadersToTheUpperLayer()
    {
        var frame = Frame.Ethernet()
            .Ipv6(V6Source, V6Destination, extensionHeaders:
            [
                Ipv6Extension.HopByHop, Ipv6Extension.Routing, Ipv6Extension.DestinationOptions,
                Ipv6Extension.Fragment(offset: 0, more: false), Ipv6Extension.AuthenticationHeader(),
            ])
            .Udp(1000, 2000)
            .Payload([5, 6])
            .Build();
        var bytes = frame.Bytes;

        // Walk the chain as a parser would: Hdr Ext Len counts 8-byte units beyond the first,
        // except for AH, whose Payload Len counts 4-byte units minus 2.
        var chain = new List<byte> { bytes[20] };
        var offset = 54;
        var ends = new List<int>();
        while (chain[^1] is 0 or 43 or 60 or 44 or 51)
        {
            var length = chain[^1] == 51 ? (bytes[offset + 1] + 2) * 4 : (bytes[offset + 1] + 1) * 8;
            chain.Add(bytes[offset]);
            offset += length;
            ends.Add(offset);
        }

        Assert.Equal(new byte[] { 0, 43, 60, 44, 51, 17 }, chain);
        Assert.Equal(54 + 8 + 8 + 8 + 8 + 12, offset);
        Assert.Equal(offset, frame.L4Offset);
        Assert.Equal([14, 54, .. ends, offset + 8], frame.HeaderBoundaries);
        Assert.Equal(44 + 8 + 2, Be16(bytes, 18));
        Assert.Equal(8 + 2, Be16(bytes, offset + 4));
        Assert.Equal(0xFFFF, OnesComplementSum([.. Ipv6PseudoHeader(bytes, 14, 17, 8 + 2), .. bytes[offset..]]));
    }

    [Fact]
    public void Ipv6Extension_OptionsHeaders_ArePaddedWithPadN()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, [Ipv6Extension.HopByHop, Ipv6Extension.DestinationOptions]).Build();

        Assert.Equal(new byte[] { 60, 0, 1, 4, 0, 0, 0, 0 }, frame.Bytes[54..62]);
        Assert.Equal(new byte[] { 59, 0, 1, 4, 0, 0, 0, 0 }, frame.Bytes[62..70]);
    }

    [Fact]
    public void Ipv6Extension_Routing_HasSegmentsLeftZero()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, [Ipv6Extension.Routing]).Build();

        Assert.Equal(new byte[] { 59, 0, 0, 0, 0, 0, 0, 0 }, frame.Bytes[54..62]);
    }

    [Fact]
    public void Ipv6Extension_Fragment_WritesOffsetMoreFlagAndIdentification()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, [Ipv6Extension.Fragment(offset: 100, more: true, identification: 0xdeadbeef)]).Udp(1, 2).Build();

        Assert.Equal(44, frame.Bytes[20]);
        Assert.Equal(new byte[] { 17, 0, 100 << 3 >> 8, (100 << 3) & 0xFF | 1, 0xde, 0xad, 0xbe, 0xef }, frame.Bytes[54..62]);
    }

    [Fact]
    public void Ipv6Extension_AuthenticationHeader_CountsLengthIn4ByteUnitsMinus2()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, [Ipv6Extension.AuthenticationHeader(spi: 0x01020304, sequence: 7)]).Tcp(1, 2).Build();

        Assert.Equal(51, frame.Bytes[20]);
        Assert.Equal(new byte[] { 6, 1, 0, 0, 1, 2, 3, 4, 0, 0, 0, 7 }, frame.Bytes[54..66]);
        Assert.Equal(66, frame.L4Offset);
    }

    [Fact]
    public void Ipv6Extension_FragmentOffsetAbove8191_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Ipv6Extension.Fragment(offset: 8192, more: false));

    [Fact]
    public void Ipv6_WithoutL4_NamesNoNextHeader()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination).Payload([1, 2]).Build();

        Assert.Equal(59, frame.Bytes[20]);
        Assert.Equal(2, Be16(frame.Bytes, 18));
        Assert.Equal((-1, 54), (frame.L4Offset, frame.PayloadOffset));
    }

    [Fact]
    public void Protocol_NonFirstIpv6Fragment_PayloadFollowsTheFragmentHeader()
    {
        var frame = Frame.Ethernet().Ipv6(V6Source, V6Destination, [Ipv6Extension.Fragment(offset: 10, more: false)]).Protocol(6).Payload([1, 2, 3]).Build();

        Assert.Equal(44, frame.Bytes[20]);
        Assert.Equal(6, frame.Bytes[54]);
        Assert.Equal((-1, 62), (frame.L4Offset, frame.PayloadOffset));
        Assert.Equal(8 + 3, Be16(frame.Bytes, 18));
    }

    [Fact]
    public void Protocol_NonFirstIpv4Fragment_WritesProtocolAndNoL4Header()
    {
        var frame = Frame.Ethernet().Ipv4(V4Source, V4Destination, fragmentOffset: 10).Protocol(17).Payload([1, 2, 3]).Build();

        Assert.Equal(17, frame.Bytes[23]);
        Assert.Equal(20 + 3, Be16(frame.Bytes, 16));
        Assert.Equal((-1, 34), (frame.L4Offset, frame.PayloadOffset));
        Assert.Equal([14, 34], frame.HeaderBoundaries);
    }

    [Fact]
    public void HeaderBoundaries_QinQIpv4WithOptionsAndTcp_ListEveryHeaderEnd()
    {
        var frame = Frame.Ethernet().Vlan(10, outer: true).Vlan(100).Ipv4(V4Source, V4Destination, options: 8).Tcp(40000, 80).Payload([1]).Build();

        Assert.Equal([14, 18, 22, 22 + 28, 22 + 28 + 20], frame.HeaderBoundaries);
        Assert.Equal(frame.PayloadOffset, frame.HeaderBoundaries[^1]);
        Assert.Equal(frame.Bytes.Length - 1, frame.PayloadOffset);
    }

    [Fact]
    public void TruncatedAt_Length_ReturnsThatPrefix()
    {
        var frame = Frame.Ethernet().Ipv4(V4Source, V4Destination).Tcp(1, 2).Build();

        Assert.Equal(frame.Bytes[..33], frame.TruncatedAt(33));
        Assert.Equal(frame.Bytes[..33], Frame.Truncate(frame.Bytes, 33));
        Assert.Empty(frame.TruncatedAt(0));
        Assert.Equal(frame.Bytes, frame.TruncatedAt(frame.Bytes.Length));
        Assert.Throws<ArgumentOutOfRangeException>(() => frame.TruncatedAt(frame.Bytes.Length + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => frame.TruncatedAt(-1));
    }

    [Fact]
    public void Builder_EachCall_ReturnsANewBuilderAndLeavesTheOldOneAlone()
    {
        var ip = Frame.Ethernet().Ipv4(V4Source, V4Destination);

        var tcp = ip.Tcp(1, 2).Build();
        var udp = ip.Udp(1, 2).Build();
        var bare = ip.Build();

        Assert.Equal((6, 17, 59), (tcp.Bytes[23], udp.Bytes[23], bare.Bytes[23]));
        Assert.Equal(ip.Build().Bytes, bare.Bytes);
    }

    [Fact]
    public void Payload_CallerChangesItsArray_FrameKeepsTheOriginalBytes()
    {
        byte[] payload = [1, 2, 3];
        var builder = Frame.Ethernet().EtherType(0x0806).Payload(payload);
        payload[0] = 99;

        Assert.Equal(1, builder.Build().Bytes[14]);
    }

    public static TheoryData<string, Func<FrameBuilder>> OutOfOrderCalls => new()
    {
        { "L4 without IP", () => Frame.Ethernet().Tcp(1, 2) },
        { "L4 after a raw EtherType", () => Frame.Ethernet().EtherType(0x0806).Udp(1, 2) },
        { "two L3 headers", () => Frame.Ethernet().Ipv4(V4Source, V4Destination).Ipv6(V6Source, V6Destination) },
        { "two L4 headers", () => Frame.Ethernet().Ipv4(V4Source, V4Destination).Tcp(1, 2).Udp(1, 2) },
        { "VLAN after L3", () => Frame.Ethernet().Ipv4(V4Source, V4Destination).Vlan(1) },
        { "payload before L3", () => Frame.Ethernet().Payload([1]) },
        { "L4 after the payload", () => Frame.Ethernet().Ipv4(V4Source, V4Destination).Payload([1]).Tcp(1, 2) },
        { "two payloads", () => Frame.Ethernet().EtherType(0x0806).Payload([1]).Payload([2]) },
    };

    [Theory]
    [MemberData(nameof(OutOfOrderCalls))]
    public void Builder_CallOutOfWireOrder_Throws(string call, Func<FrameBuilder> build)
    {
        Assert.NotEmpty(call);
        Assert.Throws<InvalidOperationException>(build);
    }

    [Fact]
    public void Build_WithoutL3_Throws() =>
        Assert.Throws<InvalidOperationException>(() => Frame.Ethernet().Vlan(1).Build());

    [Fact]
    public void Ip_AddressOfTheOtherFamily_Throws()
    {
        Assert.Throws<ArgumentException>(() => Frame.Ethernet().Ipv4(V6Source, V4Destination));
        Assert.Throws<ArgumentException>(() => Frame.Ethernet().Ipv6(V6Source, V4Destination));
    }

    [Fact]
    public void Checksum_KnownIpv4Header_MatchesPublishedValue()
    {
        // The worked example of the IPv4 header checksum: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
        byte[] header = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];

        Assert.Equal(0xb861, FrameBuilder.Checksum(header));
    }

    private static int Be16(byte[] bytes, int offset) => BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset));

    /// <summary>The folded ones' complement sum; data whose checksum is right sums to 0xFFFF.</summary>
    private static int OnesComplementSum(ReadOnlySpan<byte> data)
    {
        var sum = 0;
        for (var i = 0; i < data.Length; i++)
        {
            sum += i % 2 == 0 ? data[i] << 8 : data[i];
        }

        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return sum;
    }

    /// <summary>RFC 793 pseudo-header, from the IPv4 header at <paramref name="ip"/>.</summary>
    private static byte[] Ipv4PseudoHeader(byte[] bytes, int ip)
    {
        var headerLength = (bytes[ip] & 0x0F) * 4;
        var upperLength = Be16(bytes, ip + 2) - headerLength;
        return [.. bytes[(ip + 12)..(ip + 20)], 0, bytes[ip + 9], (byte)(upperLength >> 8), (byte)upperLength];
    }

    /// <summary>RFC 8200 section 8.1 pseudo-header, from the IPv6 header at <paramref name="ip"/>.</summary>
    private static byte[] Ipv6PseudoHeader(byte[] bytes, int ip, byte nextHeader, int upperLength) =>
        [.. bytes[(ip + 8)..(ip + 40)], (byte)(upperLength >> 24), (byte)(upperLength >> 16), (byte)(upperLength >> 8), (byte)upperLength, 0, 0, 0, nextHeader];
}
