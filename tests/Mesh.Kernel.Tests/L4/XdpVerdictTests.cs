using System.Net;
using Mesh.Config;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Testing.Packets;

namespace Mesh.Kernel.Tests.L4;

/// <summary>
/// The XDP filter on crafted frames, run in the kernel with BPF_PROG_TEST_RUN against the live
/// maps: each case asserts the verdict, the counter that moved, and that the C# evaluator used by
/// `mesh policy test` decides the same.
/// </summary>
public sealed class XdpVerdictTests : IClassFixture<XdpVerdictTests.Filter>
{
    private const uint XdpDrop = 1;
    private const uint XdpPass = 2;
    private const string Malformed = "(malformed)";
    private const string NotIp = "(not ip)";
    private const string Default = "(default)";

    private static readonly IPAddress Client = IPAddress.Parse("10.9.9.9");
    private static readonly IPAddress Server = IPAddress.Parse("10.1.0.5");
    private static readonly IPAddress BlockedClient = IPAddress.Parse("192.0.2.7");
    private static readonly IPAddress Client6 = IPAddress.Parse("fd09::9");
    private static readonly IPAddress Server6 = IPAddress.Parse("fd00::5");

    private readonly Filter _filter;

    public XdpVerdictTests(Filter filter) => _filter = filter;

    /// <summary>One child cgroup with the L4 programs and this policy, shared by the cases.</summary>
    public sealed class Filter : IDisposable
    {
        public const string Policy = """
            l4:
              default: allow
              rules:
                - name: deny-telnet
                  action: deny
                  to: 10.1.0.0/16
                  protocol: tcp
                  ports: 23
                - name: allow-dns
                  action: allow
                  to: 10.1.0.53
                  protocol: udp
                  ports: 53
                - name: deny-net
                  action: deny
                  from: 192.0.2.0/24
                - name: deny-udp-range
                  action: deny
                  protocol: udp
                  ports: 5000-5010
                - name: deny-ping6
                  action: deny
                  to: fd00::/64
                  protocol: icmp
                - name: deny-web6
                  action: deny
                  to: fd00::/64
                  protocol: tcp
                  ports: 80
                - name: deny-icmp4
                  action: deny
                  from: 198.51.100.0/24
                  protocol: icmp
                - name: deny-8080-v6-only
                  action: deny
                  to: ::/0
                  protocol: tcp
                  ports: 8080
            """;

        private readonly SplicedCgroup _cgroup;

        public Filter()
        {
            Config = L4Policies.Parse(Policy);
            _cgroup = SplicedCgroup.CreateDetached();
            try
            {
                Datapath = _cgroup.AttachL4(Config);
            }
            catch
            {
                _cgroup.Dispose();
                throw;
            }
        }

        public L4Policy Config { get; }

        public L4Datapath Datapath { get; private set; } = null!;

        public void Dispose() => _cgroup.Dispose();
    }

    public static TheoryData<string, byte[], uint, string> Frames() => new()
    {
        { "IPv4 TCP to a denied port", Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 23).Build().Bytes, XdpDrop, "deny-telnet" },
        { "IPv4 TCP to an allowed port", Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 22).Build().Bytes, XdpPass, Default },
        { "IPv4 TCP to a denied port outside the rule's CIDR", Frame.Ethernet().Ipv4(Client, IPAddress.Parse("10.2.0.5")).Tcp(40000, 23).Build().Bytes, XdpPass, Default },
        { "IPv4 TCP with 20 bytes of options to a denied port", Frame.Ethernet().Ipv4(Client, Server, options: 20).Tcp(40000, 23).Build().Bytes, XdpDrop, "deny-telnet" },
        { "IPv4 TCP with 40 bytes of options to an allowed port", Frame.Ethernet().Ipv4(Client, Server, options: 40).Tcp(40000, 24).Build().Bytes, XdpPass, Default },
        { "IPv4 from a denied CIDR, any protocol", Frame.Ethernet().Ipv4(BlockedClient, Server).Udp(1000, 9).Build().Bytes, XdpDrop, "deny-net" },
        { "IPv4 UDP to the allowed resolver", Frame.Ethernet().Ipv4(Client, IPAddress.Parse("10.1.0.53")).Udp(40000, 53).Build().Bytes, XdpPass, "allow-dns" },
        { "IPv4 UDP into a denied port range", Frame.Ethernet().Ipv4(Client, Server).Udp(40000, 5005).Build().Bytes, XdpDrop, "deny-udp-range" },
        { "IPv4 UDP just past a denied port range", Frame.Ethernet().Ipv4(Client, Server).Udp(40000, 5011).Build().Bytes, XdpPass, Default },
        { "IPv4 TCP to 8080 (the rule is IPv6 ::/0)", Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 8080).Build().Bytes, XdpPass, Default },
        { "IPv4 ICMP from a denied CIDR", Frame.Ethernet().Ipv4(IPAddress.Parse("198.51.100.9"), Server).Icmp().Build().Bytes, XdpDrop, "deny-icmp4" },
        { "IPv4 ICMP from elsewhere", Frame.Ethernet().Ipv4(Client, Server).Icmp().Build().Bytes, XdpPass, Default },
        { "802.1Q VLAN, IPv4 TCP to a denied port", Frame.Ethernet().Vlan(100).Ipv4(Client, Server).Tcp(40000, 23).Build().Bytes, XdpDrop, "deny-telnet" },
        { "802.1ad double VLAN, IPv4 TCP to a denied port", Frame.Ethernet().Vlan(10, outer: true).Vlan(20).Ipv4(Client, Server).Tcp(40000, 23).Build().Bytes, XdpDrop, "deny-telnet" },
        { "double VLAN, IPv4 TCP to an allowed port", Frame.Ethernet().Vlan(10, outer: true).Vlan(20).Ipv4(Client, Server).Tcp(40000, 443).Build().Bytes, XdpPass, Default },
        { "three VLAN tags", Frame.Ethernet().Vlan(1, outer: true).Vlan(2, outer: true).Vlan(3).Ipv4(Client, Server).Tcp(40000, 443).Build().Bytes, XdpDrop, Malformed },
        { "IPv4 first fragment with the TCP header, denied port", Frame.Ethernet().Ipv4(Client, Server, moreFragments: true).Tcp(40000, 23).Build().Bytes, XdpDrop, "deny-telnet" },
        { "IPv4 non-first fragment: port rules do not apply", Frame.Ethernet().Ipv4(Client, Server, fragmentOffset: 185).Protocol(6).Payload(new byte[64]).Build().Bytes, XdpPass, Default },
        { "IPv4 non-first fragment from a denied CIDR", Frame.Ethernet().Ipv4(BlockedClient, Server, fragmentOffset: 185).Protocol(17).Payload(new byte[64]).Build().Bytes, XdpDrop, "deny-net" },
        { "IPv6 TCP to a denied port", Frame.Ethernet().Ipv6(Client6, Server6).Tcp(40000, 80).Build().Bytes, XdpDrop, "deny-web6" },
        { "IPv6 TCP to 8080, denied for IPv6 only", Frame.Ethernet().Ipv6(Client6, IPAddress.Parse("fd01::1")).Tcp(40000, 8080).Build().Bytes, XdpDrop, "deny-8080-v6-only" },
        { "IPv6 TCP to an allowed port", Frame.Ethernet().Ipv6(Client6, Server6).Tcp(40000, 443).Build().Bytes, XdpPass, Default },
        { "IPv6 UDP into a denied port range", Frame.Ethernet().Ipv6(Client6, Server6).Udp(40000, 5000).Build().Bytes, XdpDrop, "deny-udp-range" },
        { "IPv6 ICMPv6 to a denied network", Frame.Ethernet().Ipv6(Client6, Server6).Icmp().Build().Bytes, XdpDrop, "deny-ping6" },
        { "IPv6 ICMPv6 elsewhere", Frame.Ethernet().Ipv6(Client6, IPAddress.Parse("fd01::1")).Icmp().Build().Bytes, XdpPass, Default },
        {
            "IPv6 hop-by-hop, routing, destination options, then TCP to a denied port",
            Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.HopByHop, Ipv6Extension.Routing, Ipv6Extension.DestinationOptions]).Tcp(40000, 80).Build().Bytes,
            XdpDrop, "deny-web6"
        },
        {
            "IPv6 authentication header, then TCP to a denied port",
            Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.AuthenticationHeader()]).Tcp(40000, 80).Build().Bytes,
            XdpDrop, "deny-web6"
        },
        {
            "IPv6 first fragment with the TCP header, denied port",
            Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.Fragment(0, more: true)]).Tcp(40000, 80).Build().Bytes,
            XdpDrop, "deny-web6"
        },
        {
            "IPv6 non-first fragment: port rules do not apply",
            Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.Fragment(100, more: false)]).Protocol(6).Payload(new byte[64]).Build().Bytes,
            XdpPass, Default
        },
        {
            "IPv6 non-first ICMPv6 fragment to a network denied for ICMP",
            Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.Fragment(100, more: false)]).Protocol(58).Payload(new byte[64]).Build().Bytes,
            XdpDrop, "deny-ping6"
        },
        {
            "IPv6 with six extension headers, then TCP to an allowed port",
            Frame.Ethernet().Ipv6(Client6, Server6, [.. Enumerable.Repeat(Ipv6Extension.DestinationOptions, 6)]).Tcp(40000, 443).Build().Bytes,
            XdpPass, Default
        },
        {
            "IPv6 with seven extension headers: deeper than the parser goes",
            Frame.Ethernet().Ipv6(Client6, Server6, [.. Enumerable.Repeat(Ipv6Extension.DestinationOptions, 7)]).Tcp(40000, 443).Build().Bytes,
            XdpDrop, Malformed
        },
        { "ARP", Frame.Ethernet().EtherType(0x0806).Payload(new byte[28]).Build().Bytes, XdpPass, NotIp },
        { "Ethernet header alone, EtherType IPv4, zero payload", Frame.Ethernet().EtherType(0x0800).Build().Bytes, XdpDrop, Malformed },
        { "IPv4 TCP SYN with zero payload, allowed", Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 22, TcpFlags.Syn).Build().Bytes, XdpPass, Default },
        { "IPv4 with IHL 4", WithIhl(Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 22).Build(), 4), XdpDrop, Malformed },
        { "IPv4 whose IHL runs past the frame", WithIhl(Frame.Ethernet().Ipv4(Client, Server).Udp(40000, 22).Build(), 15), XdpDrop, Malformed },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public void XdpFilter_OnCraftedFrame_GivesVerdictAndCountsIt(string description, byte[] frame, uint verdict, string decidedBy)
    {
        var before = _filter.Datapath.ReadStats();

        var result = _filter.Datapath.Xdp.TestRun(frame);

        var after = _filter.Datapath.ReadStats();
        Assert.True(verdict == result.ReturnValue, $"{description}: XDP verdict {result.ReturnValue}, expected {verdict}");
        Assert.Equal(ExpectedCounters(decidedBy, frame.Length), Moved(before, after));
    }

    [Fact]
    public void XdpFilter_Verdicts_AgreeWithThePolicyEvaluator()
    {
        // `mesh policy test` answers from Mesh.Config's evaluator: it must decide as the kernel does.
        foreach (var (description, frame, verdict, decidedBy) in Frames().Select(row => ((string)row[0], (byte[])row[1], (uint)row[2], (string)row[3])))
        {
            if (decidedBy is Malformed or NotIp || description.Contains("fragment", StringComparison.Ordinal) && description.Contains("non-first", StringComparison.Ordinal))
            {
                continue;
            }
            var flow = FlowOf(frame);
            var decision = _filter.Config.Decide(flow.Source, flow.Destination, flow.Protocol, flow.Port);
            Assert.True((decision.Rule?.Name ?? Default) == decidedBy, $"{description}: evaluator chose {decision.Rule?.Name ?? Default}, kernel {decidedBy}");
            Assert.Equal(verdict == XdpDrop, decision.Action == L4Action.Deny);
        }
    }

    [Theory]
    [InlineData("IPv4 TCP")]
    [InlineData("double VLAN IPv4 UDP")]
    [InlineData("IPv4 with options, ICMP")]
    [InlineData("IPv6 with extension headers, TCP")]
    [InlineData("IPv6 ICMPv6")]
    public void XdpFilter_FrameTruncatedAtEveryHeaderBoundary_IsDroppedAsMalformed(string shape)
    {
        var frame = shape switch
        {
            "IPv4 TCP" => Frame.Ethernet().Ipv4(Client, Server).Tcp(40000, 22).Payload(new byte[10]).Build(),
            "double VLAN IPv4 UDP" => Frame.Ethernet().Vlan(10, outer: true).Vlan(20).Ipv4(Client, Server).Udp(40000, 22).Build(),
            "IPv4 with options, ICMP" => Frame.Ethernet().Ipv4(Client, Server, options: 12).Icmp().Build(),
            "IPv6 with extension headers, TCP" => Frame.Ethernet().Ipv6(Client6, Server6, [Ipv6Extension.HopByHop, Ipv6Extension.Fragment(0, more: true), Ipv6Extension.AuthenticationHeader()]).Tcp(40000, 22).Build(),
            _ => Frame.Ethernet().Ipv6(Client6, IPAddress.Parse("fd01::1")).Icmp().Build(),
        };
        // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, so cuts start there.
        var cuts = frame.HeaderBoundaries.Where(boundary => boundary < frame.PayloadOffset)
            .SelectMany(boundary => new[] { boundary, boundary + 1 })
            .Where(length => length >= 14 && length < frame.PayloadOffset)
            .Distinct()
            .ToList();
        Assert.NotEmpty(cuts);
        foreach (var length in cuts)
        {
            var before = _filter.Datapath.ReadStats();
            var result = _filter.Datapath.Xdp.TestRun(frame.TruncatedAt(length));
            var after = _filter.Datapath.ReadStats();
            Assert.True(result.ReturnValue == XdpDrop, $"{shape} cut at {length} of {frame.Bytes.Length} bytes: verdict {result.ReturnValue}");
            Assert.Equal(1UL, after.Malformed - before.Malformed);
        }
        Assert.Equal(XdpPass, _filter.Datapath.Xdp.TestRun(frame.Bytes).ReturnValue);
    }

    private static byte[] WithIhl(BuiltFrame frame, int ihl)
    {
        var bytes = frame.Bytes.ToArray();
        bytes[frame.L3Offset] = (byte)(0x40 | ihl);
        return bytes;
    }

    /// <summary>What a frame's verdict should have moved: a rule's (or the default's) packets and bytes, or a parser counter.</summary>
    private static Dictionary<string, ulong> ExpectedCounters(string decidedBy, int frameLength) => decidedBy switch
    {
        Malformed => new() { ["malformed"] = 1 },
        NotIp => new() { ["not ip"] = 1 },
        _ => new() { [$"{decidedBy} packets"] = 1, [$"{decidedBy} bytes"] = (ulong)frameLength },
    };

    private static Dictionary<string, ulong> Moved(L4StatsSnapshot before, L4StatsSnapshot after)
    {
        var moved = new Dictionary<string, ulong>();
        void Add(string name, ulong delta)
        {
            if (delta != 0)
            {
                moved[name] = delta;
            }
        }
        foreach (var (rule, stats) in after.Rules.Zip(before.Rules, (a, b) => (a.Rule.Name, Delta: Minus(a.Stats, b.Stats))))
        {
            Add($"{rule} packets", stats.XdpPackets);
            Add($"{rule} bytes", stats.XdpBytes);
        }
        var defaults = Minus(after.Default, before.Default);
        Add($"{Default} packets", defaults.XdpPackets);
        Add($"{Default} bytes", defaults.XdpBytes);
        Add("malformed", after.Malformed - before.Malformed);
        Add("not ip", after.NotIp - before.NotIp);
        return moved;
    }

    private static L4RuleStats Minus(L4RuleStats after, L4RuleStats before) => new()
    {
        XdpPackets = after.XdpPackets - before.XdpPackets,
        XdpBytes = after.XdpBytes - before.XdpBytes,
        SocketCalls = after.SocketCalls - before.SocketCalls,
        SocketsDestroyed = after.SocketsDestroyed - before.SocketsDestroyed,
    };

    /// <summary>The flow a well-formed first-fragment frame carries, read back from its bytes.</summary>
    private static (IPAddress Source, IPAddress Destination, L4Protocol Protocol, int? Port) FlowOf(byte[] frame)
    {
        var offset = 12;
        var etherType = frame[offset] << 8 | frame[offset + 1];
        while (etherType is 0x8100 or 0x88a8)
        {
            offset += 4;
            etherType = frame[offset] << 8 | frame[offset + 1];
        }
        var ip = offset + 2;
        int protocol, transport;
        IPAddress source, destination;
        if (etherType == 0x0800)
        {
            protocol = frame[ip + 9];
            source = new IPAddress(frame.AsSpan(ip + 12, 4));
            destination = new IPAddress(frame.AsSpan(ip + 16, 4));
            transport = ip + (frame[ip] & 0x0f) * 4;
        }
        else
        {
            source = new IPAddress(frame.AsSpan(ip + 8, 16));
            destination = new IPAddress(frame.AsSpan(ip + 24, 16));
            protocol = frame[ip + 6];
            transport = ip + 40;
            while (protocol is 0 or 43 or 44 or 51 or 60)
            {
                var length = protocol switch { 44 => 8, 51 => (frame[transport + 1] + 2) * 4, _ => (frame[transport + 1] + 1) * 8 };
                protocol = frame[transport];
                transport += length;
            }
        }
        var kind = protocol switch { 6 => L4Protocol.Tcp, 17 => L4Protocol.Udp, 1 or 58 => L4Protocol.Icmp, _ => L4Protocol.Any };
        int? port = kind is L4Protocol.Tcp or L4Protocol.Udp ? frame[transport + 2] << 8 | frame[transport + 3] : null;
        return (source, destination, kind, port);
    }
}
