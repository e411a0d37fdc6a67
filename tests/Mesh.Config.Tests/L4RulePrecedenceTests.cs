using System.Net;
using Mesh.Testing;
using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The order <c>l4.rules</c> are tried in: destination prefix, source prefix, priority, file order.</summary>
public class L4RulePrecedenceTests
{
    [Fact]
    public void Order_SpecificDestinationAfterGeneral_ComesFirst()
    {
        Assert.Equal(["specific", "general"], Names("""
            - { name: general, action: deny, to: 10.0.0.0/8 }
            - { name: specific, action: allow, to: 10.1.0.0/16 }
            """));
    }

    [Fact]
    public void Order_LongerDestinationAndShorterSource_DestinationDecides()
    {
        Assert.Equal(["to-net", "from-host"], Names("""
            - { name: from-host, action: deny, from: 10.9.9.9 }
            - { name: to-net, action: allow, to: 10.0.0.0/8 }
            """));
    }

    [Fact]
    public void Order_Ipv4ZeroPrefix_ComesBeforeAnyAddress()
    {
        Assert.Equal(["ipv4", "any"], Names("""
            - { name: any, action: deny }
            - { name: ipv4, action: allow, to: 0.0.0.0/0 }
            """));
    }

    [Fact]
    public void Order_Ipv4Slash24AndIpv6Slash64_ComparedAsMappedIpv6()
    {
        // 10.0.0.0/24 counts as /120, which is longer than /64.
        Assert.Equal(["v4", "v6"], Names("""
            - { name: v6, action: deny, to: fd00::/64 }
            - { name: v4, action: deny, to: 10.0.0.0/24 }
            """));
    }

    [Fact]
    public void Order_EqualDestination_LongerSourceFirst()
    {
        Assert.Equal(["office", "anyone", "none"], Names("""
            - { name: none, action: deny, to: 10.0.0.0/8 }
            - { name: anyone, action: deny, to: 10.0.0.0/8, from: 0.0.0.0/0 }
            - { name: office, action: allow, to: 10.0.0.0/8, from: 192.168.10.0/24 }
            """));
    }

    [Fact]
    public void Order_EqualPrefixes_LowerPriorityFirst()
    {
        Assert.Equal(["urgent", "default", "late"], Names("""
            - { name: late, action: deny, to: 10.0.0.0/8, priority: 200 }
            - { name: default, action: deny, to: 10.0.0.0/8 }
            - { name: urgent, action: allow, to: 10.0.0.0/8, priority: 0 }
            """));
    }

    [Fact]
    public void Order_EqualPrefixesAndPriority_FileOrder()
    {
        Assert.Equal(["first", "second", "third"], Names("""
            - { name: first, action: allow, to: 10.0.0.0/8, priority: 5 }
            - { name: second, action: deny, to: 10.0.0.0/8, priority: 5 }
            - { name: third, action: allow, to: 10.0.0.0/8, priority: 5 }
            """));
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("::/0", 0)]
    [InlineData("fd00::/64", 64)]
    [InlineData("0.0.0.0/0", 96)]
    [InlineData("10.0.0.0/8", 104)]
    [InlineData("10.0.0.1/32", 128)]
    public void PrefixLength_Network_IsIpv6Length(string? network, int length)
    {
        Assert.Equal(length, L4RulePrecedence.PrefixLength(network is null ? null : IPNetwork.Parse(network)));
    }

    [Fact]
    public void Order_RulesInAnyOrder_GivesTheSameOrder()
    {
        var rules = Valid(File.ReadAllText(RepositoryFiles.FullPath("config/examples/l4-policy.yaml"))).L4.Rules;

        Assert.Equal(rules, L4RulePrecedence.Order(rules.Reverse()));
    }

    /// <summary>The names of the rules <paramref name="rules"/> (a YAML list) in precedence order.</summary>
    private static IEnumerable<string> Names(string rules) =>
        Valid("l4:\n  rules:\n" + string.Concat(rules.Split('\n').Select(line => $"    {line}\n"))).L4.Rules.Select(r => r.Name);
}
