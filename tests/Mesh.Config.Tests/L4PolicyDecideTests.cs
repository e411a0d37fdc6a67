using System.Net;
using Mesh.Testing;
using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>
/// <see cref="L4Policy.Decide"/>, the reference the kernel's filter implements: the first rule in
/// precedence order that matches the packet, or the default.
/// </summary>
public class L4PolicyDecideTests
{
    [Theory]
    [InlineData("allow", L4Action.Allow)]
    [InlineData("deny", L4Action.Deny)]
    public void Decide_NoRules_DefaultDecides(string defaultAction, L4Action action)
    {
        var policy = Policy("[]", defaultAction);

        Assert.Equal(new L4Decision(null, action), Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, 80));
    }

    [Fact]
    public void Decide_NoRuleMatches_DefaultDecides()
    {
        var policy = Policy("[{ action: allow, protocol: tcp, ports: 22 }]", "deny");

        Assert.Equal(new L4Decision(null, L4Action.Deny), Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, 80));
    }

    [Theory]
    [InlineData("10.1.2.3", L4Action.Deny)]
    [InlineData("10.255.255.255", L4Action.Deny)]
    [InlineData("11.0.0.1", L4Action.Allow)]
    [InlineData("9.255.255.255", L4Action.Allow)]
    public void Decide_Ipv4Source_MatchesSourceCidr(string source, L4Action action)
    {
        var policy = Policy("[{ name: ten, action: deny, from: 10.0.0.0/8 }]");

        Assert.Equal(action, Decide(policy, source, "192.168.1.1", L4Protocol.Udp, 53).Action);
    }

    [Theory]
    [InlineData("fd00::5", L4Action.Deny)]
    [InlineData("fd00::ffff:ffff:ffff:ffff", L4Action.Deny)]
    [InlineData("fd00:0:0:1::5", L4Action.Allow)]
    public void Decide_Ipv6Destination_MatchesDestinationCidr(string destination, L4Action action)
    {
        var policy = Policy("[{ action: deny, to: fd00::/64 }]");

        Assert.Equal(action, Decide(policy, "fd01::1", destination, L4Protocol.Tcp, 443).Action);
    }

    [Fact]
    public void Decide_Ipv4MappedAddresses_MatchIpv4Rules()
    {
        var policy = Policy("[{ name: ten, action: deny, from: 10.0.0.0/8, to: 192.168.0.0/16 }]");

        var decision = Decide(policy, "::ffff:10.1.2.3", "::ffff:192.168.1.1", L4Protocol.Tcp, 80);

        Assert.Equal(("ten", L4Action.Deny), (decision.Rule?.Name, decision.Action));
    }

    [Fact]
    public void Decide_Ipv4Rule_NeverMatchesIpv6Packet()
    {
        var policy = Policy("[{ action: deny, to: 0.0.0.0/0 }, { action: deny, from: 0.0.0.0/0 }]");

        Assert.Null(Decide(policy, "fd00::1", "fd00::2", L4Protocol.Tcp, 80).Rule);
        Assert.Equal(L4Action.Deny, Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, 80).Action);
    }

    [Fact]
    public void Decide_Ipv6Rule_NeverMatchesIpv4Packet()
    {
        var policy = Policy("[{ action: deny, to: \"::/0\" }]");

        Assert.Null(Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, 80).Rule);
        Assert.Null(Decide(policy, "::ffff:10.0.0.1", "::ffff:10.0.0.2", L4Protocol.Tcp, 80).Rule);
        Assert.Equal(L4Action.Deny, Decide(policy, "fd00::1", "fd00::2", L4Protocol.Tcp, 80).Action);
    }

    [Theory]
    [InlineData(7999, L4Action.Allow)]
    [InlineData(8000, L4Action.Deny)]
    [InlineData(8042, L4Action.Deny)]
    [InlineData(8080, L4Action.Deny)]
    [InlineData(8081, L4Action.Allow)]
    public void Decide_PortRange_IncludesBothEnds(int port, L4Action action)
    {
        var policy = Policy("[{ action: deny, protocol: tcp, ports: 8000-8080 }]");

        Assert.Equal(action, Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, port).Action);
    }

    [Theory]
    [InlineData(L4Protocol.Tcp, L4Action.Deny)]
    [InlineData(L4Protocol.Udp, L4Action.Allow)]
    [InlineData(L4Protocol.Icmp, L4Action.Allow)]
    [InlineData(L4Protocol.Any, L4Action.Allow)]
    public void Decide_TcpRule_MatchesOnlyTcp(L4Protocol protocol, L4Action action)
    {
        var policy = Policy("[{ action: deny, protocol: tcp }]");

        Assert.Equal(action, Decide(policy, "10.0.0.1", "10.0.0.2", protocol, 80).Action);
    }

    [Theory]
    [InlineData(L4Protocol.Tcp)]
    [InlineData(L4Protocol.Udp)]
    [InlineData(L4Protocol.Icmp)]
    [InlineData(L4Protocol.Any)]
    public void Decide_AnyProtocolRuleWithoutPorts_MatchesEveryProtocol(L4Protocol protocol)
    {
        var policy = Policy("[{ action: deny, to: 10.0.0.2 }]");

        Assert.Equal(L4Action.Deny, Decide(policy, "10.0.0.1", "10.0.0.2", protocol, protocol is L4Protocol.Tcp or L4Protocol.Udp ? 80 : null).Action);
    }

    [Theory]
    [InlineData(L4Protocol.Tcp, 53, L4Action.Deny)]
    [InlineData(L4Protocol.Udp, 53, L4Action.Deny)]
    [InlineData(L4Protocol.Udp, 54, L4Action.Allow)]
    [InlineData(L4Protocol.Icmp, null, L4Action.Allow)]
    [InlineData(L4Protocol.Icmp, 53, L4Action.Allow)]
    [InlineData(L4Protocol.Any, 53, L4Action.Allow)]
    public void Decide_AnyProtocolRuleWithPorts_MatchesOnlyTcpAndUdp(L4Protocol protocol, int? port, L4Action action)
    {
        var policy = Policy("[{ action: deny, ports: 53 }]");

        Assert.Equal(action, Decide(policy, "10.0.0.1", "10.0.0.2", protocol, port).Action);
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.2")]
    [InlineData("fd00::1", "fd00::2")]
    public void Decide_IcmpRule_MatchesIcmpOfEitherFamily(string source, string destination)
    {
        var policy = Policy("[{ name: no-ping, action: deny, protocol: icmp }]");

        Assert.Equal("no-ping", Decide(policy, source, destination, L4Protocol.Icmp, null).Rule?.Name);
        Assert.Null(Decide(policy, source, destination, L4Protocol.Tcp, 80).Rule);
    }

    [Fact]
    public void Decide_NullPort_SkipsRulesWithPorts()
    {
        var policy = Policy("[{ name: all-ports, action: allow, protocol: tcp, ports: 1-65535, priority: 0 }, { name: tcp, action: deny, protocol: tcp }]");

        Assert.Equal("all-ports", Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, 443).Rule?.Name);
        Assert.Equal("tcp", Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, null).Rule?.Name);
    }

    [Fact]
    public void Decide_PortZero_MatchesNoPortRule()
    {
        var policy = Policy("[{ action: deny, ports: 1-65535 }]");

        Assert.Null(Decide(policy, "10.0.0.1", "10.0.0.2", L4Protocol.Udp, 0).Rule);
    }

    [Theory]
    [InlineData("192.168.10.7", "office")]
    [InlineData("192.168.11.7", "others")]
    public void Decide_OverlappingRules_FirstInPrecedenceOrderWins(string source, string rule)
    {
        // 'others' is written first, but 'office' has the longer source prefix for the same destination.
        var policy = Policy("""
            - { name: others, action: deny, to: 10.0.0.0/16, protocol: tcp, ports: 8443, priority: 0 }
            - { name: office, action: allow, from: 192.168.10.0/24, to: 10.0.0.0/16, protocol: tcp, ports: 8443 }
            - { name: specific-host, action: allow, to: 10.0.9.9 }
            """);

        var decision = Decide(policy, source, "10.0.1.1", L4Protocol.Tcp, 8443);

        Assert.Equal(rule, decision.Rule?.Name);
        Assert.Equal(decision.Rule!.Action, decision.Action);
        Assert.Equal("specific-host", Decide(policy, source, "10.0.9.9", L4Protocol.Tcp, 8443).Rule?.Name);
    }

    [Fact]
    public void Decide_ExampleFile_DecidesAsItsCommentsSay()
    {
        var policy = Valid(File.ReadAllText(RepositoryFiles.FullPath("config/examples/l4-policy.yaml"))).L4;

        Assert.Equal("dns-resolver", Decide(policy, "10.0.0.7", "10.0.0.53", L4Protocol.Udp, 53).Rule?.Name);
        Assert.Equal("admin-from-office", Decide(policy, "192.168.10.4", "10.0.3.3", L4Protocol.Tcp, 8443).Rule?.Name);
        Assert.Equal("admin-from-elsewhere", Decide(policy, "192.168.11.4", "10.0.3.3", L4Protocol.Tcp, 8443).Rule?.Name);
        Assert.Equal("no-telnet", Decide(policy, "10.0.0.7", "203.0.113.1", L4Protocol.Tcp, 23).Rule?.Name);
        Assert.Equal("no-ipv4-ping", Decide(policy, "10.0.0.7", "203.0.113.1", L4Protocol.Icmp, null).Rule?.Name);
        Assert.Null(Decide(policy, "fd00::1", "fd00::2", L4Protocol.Icmp, null).Rule);
        Assert.Equal("no-legacy-v6", Decide(policy, "fd00:dead::1", "fd00::2", L4Protocol.Tcp, 23).Rule?.Name);
        Assert.Equal("rule-7", Decide(policy, "fd00::1", "fd00::2", L4Protocol.Udp, 6010).Rule?.Name);
        Assert.Equal(new L4Decision(null, L4Action.Allow), Decide(policy, "fd00::1", "fd00::2", L4Protocol.Tcp, 6010));
    }

    [Fact]
    public void Decide_AddressesOfDifferentFamilies_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => Decide(Policy("[]"), "10.0.0.1", "fd00::1", L4Protocol.Tcp, 80));

        Assert.Contains("different address families", error.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65536)]
    public void Decide_PortOutOfRange_Throws(int port)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Decide(Policy("[]"), "10.0.0.1", "10.0.0.2", L4Protocol.Tcp, port));
    }

    /// <param name="rules">The value of <c>l4.rules</c>: a flow list, or block items starting with '- '.</param>
    private static L4Policy Policy(string rules, string defaultAction = "allow") =>
        Valid($"l4:\n  default: {defaultAction}\n  rules:\n" + string.Concat(rules.Split('\n').Select(line => $"    {line}\n"))).L4;

    private static L4Decision Decide(L4Policy policy, string source, string destination, L4Protocol protocol, int? port) =>
        policy.Decide(IPAddress.Parse(source), IPAddress.Parse(destination), protocol, port);
}
