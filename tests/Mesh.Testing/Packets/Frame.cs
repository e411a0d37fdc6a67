// Hand-written on purpose, not built on PacketDotNet (which is on the NuGet feed): what these
// tests need most, IPv4 options, IPv6 extension header chains, 802.1ad outer tags and the offset
// of every header, PacketDotNet does not build, so its packet objects would save only the simple
// fixed headers while adding a dependency to both projects that compile these files. The wire
// formats follow RFC 791 (IPv4), 8200 (IPv6), 793 (TCP), 768 (UDP), 792 (ICMP), 4443 (ICMPv6),
// 4302 (AH), 1071 (checksum) and IEEE 802.1Q/802.1ad (VLAN tags).
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Mesh.Testing.Packets;

/// <summary>Builds Ethernet frames to run XDP programs on with BPF_PROG_TEST_RUN.</summary>
public static class Frame
{
    /// <summary>Starts a frame; the MACs default to 02:00:00:00:00:01 (destination) and 02:00:00:00:00:02 (source).</summary>
    public static FrameBuilder Ethernet(PhysicalAddress? destination = null, PhysicalAddress? source = null) => new(
        Mac(destination, [2, 0, 0, 0, 0, 1]),
        Mac(source, [2, 0, 0, 0, 0, 2]));

    /// <summary>A copy of the first <paramref name="length"/> bytes of <paramref name="frame"/>.</summary>
    public static byte[] Truncate(byte[] frame, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, frame.Length);
        return frame[..length];
    }

    private static byte[] Mac(PhysicalAddress? address, byte[] fallback)
    {
        var bytes = address?.GetAddressBytes() ?? fallback;
        return bytes.Length == 6 ? bytes : throw new ArgumentException("A MAC address has 6 bytes.", nameof(address));
    }
}

/// <summary>
/// An immutable frame description: each method returns a new builder. Layers are added in wire
/// order (VLAN tags, then one of EtherType/Ipv4/Ipv6, then one of Tcp/Udp/Icmp/Protocol, then the
/// payload); a call out of that order throws <see cref="InvalidOperationException"/>.
/// </summary>
public sealed record FrameBuilder
{
    private const byte NoNextHeader = 59;

    internal FrameBuilder(byte[] destination, byte[] source) => (Destination, Source) = (destination, source);

    private byte[] Destination { get; }
    private byte[] Source { get; }
    private ImmutableList<(ushort Tpid, ushort Tci)> Tags { get; init; } = [];
    private Network? L3 { get; init; }
    private Transport? L4 { get; init; }
    private byte[]? Data { get; init; }

    /// <summary>Adds a VLAN tag: 802.1Q (TPID 0x8100), or 802.1ad (TPID 0x88a8) when <paramref name="outer"/>; for QinQ add the outer tag first.</summary>
    public FrameBuilder Vlan(ushort id, bool outer = false, byte priority = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(id, (ushort)4095);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, (byte)7);
        Require(L3 is null && Data is null, "VLAN tags come before the L3 header.");
        return this with { Tags = Tags.Add((outer ? (ushort)0x88a8 : (ushort)0x8100, (ushort)(priority << 13 | id))) };
    }

    /// <summary>Ends the Ethernet header with <paramref name="etherType"/> and no L3 header: the payload follows it (ARP and the like).</summary>
    public FrameBuilder EtherType(ushort etherType) => WithL3(new RawNetwork(etherType));

    /// <summary>
    /// Adds an IPv4 header with <paramref name="options"/> bytes of NOP options (a multiple of 4, at most 40)
    /// and the fragment offset in 8-byte units; TOS and identification are 0 and DF is clear.
    /// </summary>
    public FrameBuilder Ipv4(IPAddress source, IPAddress destination, int options = 0, int fragmentOffset = 0, bool moreFragments = false, byte ttl = 64)
    {
        RequireFamily(source, AddressFamily.InterNetwork);
        RequireFamily(destination, AddressFamily.InterNetwork);
        if (options is < 0 or > 40 || options % 4 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options, "IPv4 options take a multiple of 4 bytes, at most 40.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(fragmentOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fragmentOffset, 8191);
        return WithL3(new Ipv4Network(source, destination, options, fragmentOffset, moreFragments, ttl));
    }

    /// <summary>Adds an IPv6 header (traffic class and flow label 0) followed by <paramref name="extensionHeaders"/> in the order given.</summary>
    public FrameBuilder Ipv6(IPAddress source, IPAddress destination, IEnumerable<Ipv6Extension>? extensionHeaders = null, byte hopLimit = 64)
    {
        RequireFamily(source, AddressFamily.InterNetworkV6);
        RequireFamily(destination, AddressFamily.InterNetworkV6);
        return WithL3(new Ipv6Network(source, destination, [.. extensionHeaders ?? []], hopLimit));
    }

    /// <summary>Adds a 20-byte TCP header (no options, window 65535, sequence and acknowledgment numbers 0).</summary>
    public FrameBuilder Tcp(ushort sourcePort, ushort destinationPort, TcpFlags flags = TcpFlags.Syn) =>
        WithL4(new TcpTransport(sourcePort, destinationPort, flags));

    /// <summary>Adds an 8-byte UDP header.</summary>
    public FrameBuilder Udp(ushort sourcePort, ushort destinationPort) => WithL4(new UdpTransport(sourcePort, destinationPort));

    /// <summary>
    /// Adds an 8-byte ICMP header (ICMPv6 after <see cref="Ipv6"/>) whose last 4 bytes are 0; the type
    /// defaults to echo request: 8 for ICMP, 128 for ICMPv6.
    /// </summary>
    public FrameBuilder Icmp(byte? type = null, byte code = 0) => WithL4(new IcmpTransport(type, code));

    /// <summary>
    /// Names the upper-layer protocol without writing its header, so the payload follows the IP header
    /// (or the last extension header) directly, as in a non-first fragment. Without any L4 call the
    /// protocol is 59 (No Next Header).
    /// </summary>
    public FrameBuilder Protocol(byte protocol) => WithL4(new RawTransport(protocol));

    /// <summary>Sets the bytes after the last header; the default is none.</summary>
    public FrameBuilder Payload(ReadOnlySpan<byte> payload)
    {
        Require(L3 is not null, "Add the L3 header before the payload.");
        Require(Data is null, "The payload is already set.");
        return this with { Data = payload.ToArray() };
    }

    /// <summary>Lays out the frame with every length and checksum filled in.</summary>
    public BuiltFrame Build()
    {
        Require(L3 is not null, "Choose the L3 header: EtherType, Ipv4 or Ipv6.");
        var ipv6 = L3 is Ipv6Network;
        var protocol = L4?.Protocol(ipv6) ?? NoNextHeader;
        var payload = Data ?? [];
        var transport = L4?.Header(ipv6, payload.Length) ?? [];
        byte[] upper = [.. transport, .. payload];

        List<byte[]> headers = [[.. Destination, .. Source, .. Be16(Tags.IsEmpty ? L3.EtherType : Tags[0].Tpid)]];
        for (var i = 0; i < Tags.Count; i++)
        {
            headers.Add([.. Be16(Tags[i].Tci), .. Be16(i + 1 < Tags.Count ? Tags[i + 1].Tpid : L3.EtherType)]);
        }

        var l3Offset = headers.Sum(header => header.Length);
        headers.AddRange(L3.Headers(protocol, upper.Length));
        if (L4?.ChecksumOffset is { } checksumOffset)
        {
            // ICMPv4 is the only checksum without a pseudo-header; UDP sends a computed 0 as 0xFFFF (RFC 768).
            var sum = Checksum([.. L4 is IcmpTransport && !ipv6 ? [] : L3.PseudoHeader(protocol, upper.Length), .. upper]);
            BinaryPrimitives.WriteUInt16BigEndian(upper.AsSpan(checksumOffset), sum == 0 && L4 is UdpTransport ? (ushort)0xFFFF : sum);
        }

        if (transport.Length > 0)
        {
            headers.Add(upper[..transport.Length]);
        }

        var boundaries = new List<int>();
        foreach (var header in headers)
        {
            boundaries.Add((boundaries.Count > 0 ? boundaries[^1] : 0) + header.Length);
        }

        return new BuiltFrame(
            Bytes: [.. headers.SelectMany(header => header), .. payload],
            L3Offset: l3Offset,
            L4Offset: transport.Length > 0 ? boundaries[^2] : -1,
            PayloadOffset: boundaries[^1],
            HeaderBoundaries: boundaries);
    }

    /// <summary>The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (var i = 0; i < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8 | (i + 1 < data.Length ? data[i + 1] : 0));
        }

        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }

    private FrameBuilder WithL3(Network network)
    {
        Require(L3 is null, "The frame already has its L3 header.");
        return this with { L3 = network };
    }

    private FrameBuilder WithL4(Transport transport)
    {
        Require(L3 is Ipv4Network or Ipv6Network, "An L4 header needs an IPv4 or IPv6 header before it.");
        Require(L4 is null && Data is null, "The frame already has its L4 header or payload.");
        return this with { L4 = transport };
    }

    private static void Require([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }

    private static void RequireFamily(IPAddress address, AddressFamily family)
    {
        if (address.AddressFamily != family)
        {
            throw new ArgumentException($"Expected an {family} address, got {address}.", nameof(address));
        }
    }

    private static byte[] Be16(int value) => [(byte)(value >> 8), (byte)value];

    private static byte[] Be32(int value) => [.. Be16(value >> 16), .. Be16(value)];

    private abstract record Network(ushort EtherType)
    {
        /// <summary>The L3 headers in wire order, given the upper-layer protocol and the length of its header and payload.</summary>
        public abstract IEnumerable<byte[]> Headers(byte protocol, int upperLength);

        /// <summary>What the TCP, UDP and ICMPv6 checksums cover before the upper-layer header.</summary>
        public abstract byte[] PseudoHeader(byte protocol, int upperLength);
    }

    private sealed record RawNetwork(ushort Type) : Network(Type)
    {
        public override IEnumerable<byte[]> Headers(byte protocol, int upperLength) => [];

        public override byte[] PseudoHeader(byte protocol, int upperLength) => [];
    }

    private sealed record Ipv4Network(IPAddress Source, IPAddress Destination, int Options, int FragmentOffset, bool MoreFragments, byte Ttl) : Network(0x0800)
    {
        public override IEnumerable<byte[]> Headers(byte protocol, int upperLength)
        {
            var length = 20 + Options;
            byte[] header =
            [
                (byte)(0x40 | length / 4), 0, .. Be16(length + upperLength),
                0, 0, .. Be16((MoreFragments ? 0x2000 : 0) | FragmentOffset),
                Ttl, protocol, 0, 0,
                .. Source.GetAddressBytes(), .. Destination.GetAddressBytes(),
                .. Enumerable.Repeat((byte)1, Options),
            ];
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), Checksum(header));
            return [header];
        }

        public override byte[] PseudoHeader(byte protocol, int upperLength) =>
            [.. Source.GetAddressBytes(), .. Destination.GetAddressBytes(), 0, protocol, .. Be16(upperLength)];
    }

    private sealed record Ipv6Network(IPAddress Source, IPAddress Destination, ImmutableArray<Ipv6Extension> Extensions, byte HopLimit) : Network(0x86DD)
    {
        public override IEnumerable<byte[]> Headers(byte protocol, int upperLength)
        {
            var payloadLength = Extensions.Sum(extension => extension.Length) + upperLength;
            var first = Extensions.IsEmpty ? protocol : Extensions[0].Protocol;
            yield return [0x60, 0, 0, 0, .. Be16(payloadLength), first, HopLimit, .. Source.GetAddressBytes(), .. Destination.GetAddressBytes()];
            for (var i = 0; i < Extensions.Length; i++)
            {
                yield return Extensions[i].Encode(i + 1 < Extensions.Length ? Extensions[i + 1].Protocol : protocol);
            }
        }

        public override byte[] PseudoHeader(byte protocol, int upperLength) =>
            [.. Source.GetAddressBytes(), .. Destination.GetAddressBytes(), .. Be32(upperLength), 0, 0, 0, protocol];
    }

    private abstract record Transport
    {
        public abstract byte Protocol(bool ipv6);

        /// <summary>The header with a zero checksum, given the length of the payload after it.</summary>
        public abstract byte[] Header(bool ipv6, int payloadLength);

        public virtual int? ChecksumOffset => null;
    }

    private sealed record TcpTransport(ushort SourcePort, ushort DestinationPort, TcpFlags Flags) : Transport
    {
        public override byte Protocol(bool ipv6) => 6;

        // Sequence and acknowledgment numbers 0, data offset 5 words, window 65535, urgent pointer 0.
        public override byte[] Header(bool ipv6, int payloadLength) =>
            [.. Be16(SourcePort), .. Be16(DestinationPort), 0, 0, 0, 0, 0, 0, 0, 0, 5 << 4, (byte)Flags, 0xFF, 0xFF, 0, 0, 0, 0];

        public override int? ChecksumOffset => 16;
    }

    private sealed record UdpTransport(ushort SourcePort, ushort DestinationPort) : Transport
    {
        public override byte Protocol(bool ipv6) => 17;

        public override byte[] Header(bool ipv6, int payloadLength) =>
            [.. Be16(SourcePort), .. Be16(DestinationPort), .. Be16(8 + payloadLength), 0, 0];

        public override int? ChecksumOffset => 6;
    }

    private sealed record IcmpTransport(byte? Type, byte Code) : Transport
    {
        public override byte Protocol(bool ipv6) => ipv6 ? (byte)58 : (byte)1;

        public override byte[] Header(bool ipv6, int payloadLength) => [Type ?? (ipv6 ? (byte)128 : (byte)8), Code, 0, 0, 0, 0, 0, 0];

        public override int? ChecksumOffset => 2;
    }

    private sealed record RawTransport(byte Number) : Transport
    {
        public override byte Protocol(bool ipv6) => Number;

        public override byte[] Header(bool ipv6, int payloadLength) => [];
    }
}
