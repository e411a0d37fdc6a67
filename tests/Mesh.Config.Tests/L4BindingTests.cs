using System.Net;
using Mesh.Testing;
using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The <c>l4</c> section read into the model: every key, the defaults, and the rules in precedence order.</summary>
public class L4BindingTests
{
    [Fact]
    public void Parse_EveryL4KeySet_ReturnsExpectedModel()
    {
        var config = Valid("""
            l4:
              default: deny
              interfaces:
                - name: eth0
                  mode: native
                - { name: ens5, mode: generic }
                - name: lo
              rules:
                - name: block-telnet
                  action: deny
                  from: 10.0.0.0/8
                  to: 192.168.1.0/24
                  protocol: tcp
                  ports: 23
                  priority: 10
                - action: allow
                  to: fd00::/64
                  protocol: udp
                  ports: 8000-8080
                - { action: allow, protocol: icmp }
            """);

        var expected = new L4Policy
        {
            Default = L4Action.Deny,
            Interfaces = [new XdpInterface("eth0", XdpMode.Native), new XdpInterface("ens5", XdpMode.Generic), new XdpInterface("lo", XdpMode.Auto)],
            Rules =
            [
                new L4Rule
                {
                    Name = "block-telnet", Action = L4Action.Deny, From = IPNetwork.Parse("10.0.0.0/8"), To = IPNetwork.Parse("192.168.1.0/24"),
                    Protocol = L4Protocol.Tcp, Ports = new PortRange(23, 23), Priority = 10, FileOrder = 1, Line = 9,
                },
                new L4Rule
                {
                    Name = "rule-2", Action = L4Action.Allow, To = IPNetwork.Parse("fd00::/64"), Protocol = L4Protocol.Udp,
                    Ports = new PortRange(8000, 8080), FileOrder = 2, Line = 16,
                },
                new L4Rule { Name = "rule-3", Action = L4Action.Allow, Protocol = L4Protocol.Icmp, FileOrder = 3, Line = 20 },
            ],
        };
        Assert.Equal(expected, config.L4);
    }

    [Theory]
    [InlineData("splice: on\n")]
    [InlineData("l4:\n")]
    [InlineData("l4:\n  interfaces: []\n  rules:\n")]
    public void Parse_NoL4Settings_AllowsEverythingWithoutInterfaces(string yaml)
    {
        var policy = Valid(yaml).L4;

        Assert.Equal(new L4Policy(), policy);
        Assert.Equal(L4Action.Allow, policy.Default);
        Assert.Empty(policy.Interfaces);
        Assert.Empty(policy.Rules);
    }

    [Fact]
    public void Parse_RuleWithOnlyAction_HasDefaults()
    {
        var rule = Assert.Single(Valid("l4:\n  rules:\n    - action: deny\n").L4.Rules);

        Assert.Equal(new L4Rule { Name = "rule-1", Action = L4Action.Deny, FileOrder = 1, Line = 3 }, rule);
        Assert.Equal((null, null, L4Protocol.Any, null, 100), (rule.From, rule.To, rule.Protocol, rule.Ports, rule.Priority));
    }

    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3/32")]
    [InlineData("fd00::1", "fd00::1/128")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    [InlineData("\"::/0\"", "::/0")]
    public void Parse_AddressOrCidr_ReadsNetwork(string value, string network)
    {
        var rule = Valid($"l4:\n  rules:\n    - {{ action: deny, from: {value} }}\n").L4.Rules.Single();

        Assert.Equal(IPNetwork.Parse(network), rule.From);
    }

    [Theory]
    [InlineData("1", 1, 1)]
    [InlineData("65535", 65535, 65535)]
    [InlineData("8000-8080", 8000, 8080)]
    [InlineData("\"443-443\"", 443, 443)]
    [InlineData("1-65535", 1, 65535)]
    public void Parse_PortOrRange_ReadsPortRange(string value, int first, int last)
    {
        var rule = Valid($"l4:\n  rules:\n    - {{ action: deny, protocol: udp, ports: {value} }}\n").L4.Rules.Single();

        Assert.Equal(new PortRange((ushort)first, (ushort)last), rule.Ports);
    }

    [Fact]
    public void Parse_PortsWithProtocolAny_IsValid()
    {
        Assert.Equal(L4Protocol.Any, Valid("l4:\n  rules:\n    - { action: deny, ports: 53 }\n").L4.Rules.Single().Protocol);
    }

    [Fact]
    public void Parse_ExactlyMaxRules_IsValid()
    {
        var rules = string.Concat(Enumerable.Range(1, L4Policy.MaxRules).Select(i => $"    - {{ action: deny, ports: {i} }}\n"));

        Assert.Equal(L4Policy.MaxRules, Valid("l4:\n  rules:\n" + rules).L4.Rules.Count);
    }

    [Fact]
    public void Load_L4ExampleFile_ListsRulesInTheOrderTheyAreTried()
    {
        var config = new MeshConfigLoader().Load(RepositoryFiles.FullPath("config/examples/l4-policy.yaml")).Config!;

        // The example's comments say the rules are written in the order they are tried.
        Assert.Equal(config.L4.Rules.Select(r => r.Name), config.L4.Rules.OrderBy(r => r.FileOrder).Select(r => r.Name));
        Assert.Equal(["dns-resolver", "admin-from-office", "admin-from-elsewhere", "no-telnet", "no-ipv4-ping", "no-legacy-v6", "rule-7"],
            config.L4.Rules.Select(r => r.Name));
        Assert.Equal([new XdpInterface("eth0", XdpMode.Auto), new XdpInterface("eth1", XdpMode.Generic)], config.L4.Interfaces);
    }

    [Fact]
    public void Parse_SameL4Twice_GivesEqualConfigs()
    {
        var text = File.ReadAllText(RepositoryFiles.FullPath("config/examples/l4-policy.yaml"));

        Assert.Equal(Valid(text), Valid(text));
        Assert.Equal(Valid(text).GetHashCode(), Valid(text).GetHashCode());
        Assert.NotEqual(Valid(text), Valid(text.Replace("ports: 6000-6063", "ports: 6000-6064", StringComparison.Ordinal)));
    }
}
