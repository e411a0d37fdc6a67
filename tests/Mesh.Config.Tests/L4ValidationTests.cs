using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>Mistakes in the <c>l4</c> section: each reported at its line and column, with what to write instead.</summary>
public class L4ValidationTests
{
    // --- the section and its keys ---

    [Fact]
    public void Parse_L4NotAMapping_AsksForKeys()
    {
        AssertError(SingleError("l4: deny\n"), 1, 5, "'l4' expects a mapping with the keys default, interfaces, rules, but found the value 'deny'", "indented under 'l4:'");
    }

    [Fact]
    public void Parse_MisspelledL4Key_SuggestsClosestKey()
    {
        Assert.Equal(new ConfigError(FileName, 2, 3, "unknown key 'rule' in 'l4'; did you mean 'rules'?"), SingleError("l4:\n  rule: []\n"));
    }

    [Fact]
    public void Parse_MisspelledRuleKey_SuggestsClosestKey()
    {
        Assert.Equal(new ConfigError(FileName, 4, 7, "unknown key 'protcol' in 'l4.rules[0]'; did you mean 'protocol'?"),
            SingleError("l4:\n  rules:\n    - action: deny\n      protcol: tcp\n"));
    }

    [Theory]
    [InlineData("port: 23", "unknown key 'port' in 'l4.rules[0]'; write 'ports', with a port such as 443 or a range such as 8000-8080")]
    [InlineData("src: 10.0.0.0/8", "unknown key 'src' in 'l4.rules[0]'; write 'from'")]
    [InlineData("destination: 10.0.0.0/8", "unknown key 'destination' in 'l4.rules[0]'; write 'to'")]
    public void Parse_OtherToolsRuleKey_SaysMeshSpelling(string key, string message)
    {
        Assert.Equal(new ConfigError(FileName, 4, 7, message), SingleError($"l4:\n  rules:\n    - action: deny\n      {key}\n"));
    }

    [Fact]
    public void Parse_MisspelledInterfaceKey_SuggestsClosestKey()
    {
        Assert.Equal(new ConfigError(FileName, 4, 7, "unknown key 'mdoe' in 'l4.interfaces[0]'; did you mean 'mode'?"),
            SingleError("l4:\n  interfaces:\n    - name: eth0\n      mdoe: native\n"));
    }

    [Theory]
    [InlineData("drop", "'l4.default' is 'drop', which is not one of allow, deny")]
    [InlineData("Deny", "write 'deny' (the case matters)")]
    [InlineData("[deny]", "'l4.default' expects one of allow, deny, but found a list")]
    public void Parse_BadDefault_AsksForAllowOrDeny(string value, string message)
    {
        AssertError(SingleError($"l4:\n  default: {value}\n"), 2, 12, message);
    }

    // --- interfaces ---

    [Fact]
    public void Parse_InterfacesNotAList_AsksForListItems()
    {
        AssertError(SingleError("l4:\n  interfaces: eth0\n"), 2, 15, "'l4.interfaces' expects a list, but found the value 'eth0'", "'- name: eth0'");
    }

    [Fact]
    public void Parse_InterfaceWithoutName_AsksForName()
    {
        AssertError(SingleError("l4:\n  interfaces:\n    - mode: native\n"), 3, 7, "'l4.interfaces[0]' has no 'name'; add 'name: eth0'");
    }

    [Theory]
    [InlineData("abcdefghijklmnop", "which is not a Linux interface name: use 1 to 15 characters")]
    [InlineData("eth0/1", "without '/', ':' or spaces")]
    [InlineData("eth0:1", "without '/', ':' or spaces")]
    [InlineData("'eth 0'", "without '/', ':' or spaces")]
    [InlineData("\"..\"", "which is not a Linux interface name")]
    [InlineData("\"\"", "'l4.interfaces[0].name' is empty; write an interface name, such as eth0")]
    public void Parse_BadInterfaceName_AsksForLinuxName(string name, string message)
    {
        AssertError(SingleError($"l4:\n  interfaces:\n    - name: {name}\n"), 3, 13, "'l4.interfaces[0].name'", message);
    }

    [Fact]
    public void Parse_FifteenCharacterInterfaceName_IsValid()
    {
        Assert.Equal("abcdefghijklmno", Valid("l4:\n  interfaces:\n    - name: abcdefghijklmno\n").L4.Interfaces.Single().Name);
    }

    [Theory]
    [InlineData("xdp", "'l4.interfaces[0].mode' is 'xdp', which is not one of native, generic, auto; write one of native, generic, auto")]
    [InlineData("Native", "write 'native' (the case matters)")]
    [InlineData("skb", "which is not one of native, generic, auto")]
    public void Parse_BadMode_AsksForModeWord(string mode, string message)
    {
        AssertError(SingleError($"l4:\n  interfaces:\n    - name: eth0\n      mode: {mode}\n"), 4, 13, message);
    }

    [Fact]
    public void Parse_DuplicateInterface_ReportsSecondWithFirstLine()
    {
        var error = SingleError("l4:\n  interfaces:\n    - name: eth0\n    - { name: eth1 }\n    - { name: eth0, mode: generic }\n");

        AssertError(error, 5, 15, "duplicate interface 'eth0' in 'l4.interfaces', first at line 3", "list it once");
    }

    // --- rules ---

    [Fact]
    public void Parse_RulesNotAList_AsksForListItems()
    {
        AssertError(SingleError("l4:\n  rules:\n    action: deny\n"), 3, 5, "'l4.rules' expects a list, but found a mapping", "'- { action: deny, protocol: tcp, ports: 23 }'");
    }

    [Fact]
    public void Parse_RuleWithoutAction_AsksForAction()
    {
        AssertError(SingleError("l4:\n  rules:\n    - name: telnet\n      ports: 23\n"), 3, 7, "'l4.rules[0]' has no 'action'; add 'action: deny'");
    }

    [Fact]
    public void Parse_EmptyRule_SaysItNeedsAction()
    {
        AssertError(SingleError("l4:\n  rules:\n    -\n"), 3, 6, "'l4.rules[0]' is empty, but needs 'action'");
    }

    [Theory]
    [InlineData("drop", "'l4.rules[0].action' is 'drop', which is not one of allow, deny")]
    [InlineData("\"\"", "'l4.rules[0].action' has no value; write one of allow, deny")]
    public void Parse_BadAction_AsksForAllowOrDeny(string action, string message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: {action}\n"), 3, 15, message);
    }

    [Theory]
    [InlineData("sctp", "'l4.rules[0].protocol' is 'sctp', which is not one of tcp, udp, icmp, any")]
    [InlineData("TCP", "write 'tcp' (the case matters)")]
    [InlineData("imcp", "did you mean 'icmp'?")]
    [InlineData("icmpv6", "'l4.rules[0].protocol' is 'icmpv6'; write 'icmp', which means ICMPv6 in IPv6 packets")]
    public void Parse_BadProtocol_AsksForProtocolWord(string protocol, string message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: deny\n      protocol: {protocol}\n"), 4, 17, message);
    }

    [Theory]
    [InlineData("Telnet_Block", "write 'telnet-block'")]
    [InlineData("\"\"", "has no value")]
    public void Parse_RuleNameNotDnsLabel_AsksForDnsLabel(string name, string message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: deny\n      name: {name}\n"), 4, 13, "'l4.rules[0].name'", message);
    }

    [Fact]
    public void Parse_DuplicateRuleName_ReportsSecondWithFirstLine()
    {
        var error = SingleError("l4:\n  rules:\n    - { name: telnet, action: deny }\n    - { name: ssh, action: deny }\n    - { name: telnet, action: allow }\n");

        Assert.Equal(new ConfigError(FileName, 5, 15, "duplicate rule name 'telnet' in 'l4.rules', first at line 3; rule names are unique, so rename one"), error);
    }

    [Fact]
    public void Parse_NameEqualToUnnamedRulesDefault_ReportsDuplicateAndExplainsDefault()
    {
        var error = SingleError("l4:\n  rules:\n    - { name: rule-2, action: deny }\n    - { action: allow }\n");

        AssertError(error, 4, 7, "duplicate rule name 'rule-2' in 'l4.rules', first at line 3", "a rule without 'name' is called rule-<its place in the list>");
    }

    [Theory]
    [InlineData("high", "'l4.rules[0].priority' is 'high', which is not a whole number; write a whole number from 0 to 65535, such as 10")]
    [InlineData("-1", "'l4.rules[0].priority' is -1, but must be from 0 to 65535; a lower priority is tried first")]
    [InlineData("65536", "'l4.rules[0].priority' is 65536, but must be from 0 to 65535")]
    public void Parse_BadPriority_AsksForNumberInRange(string priority, string message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: deny\n      priority: {priority}\n"), 4, 17, message);
    }

    [Fact]
    public void Parse_MoreThanMaxRules_ReportsFirstRuleOverTheKernelLimit()
    {
        var rules = string.Concat(Enumerable.Range(1, L4Policy.MaxRules + 2).Select(i => $"    - {{ action: deny, ports: {i} }}\n"));

        AssertError(SingleError("l4:\n  rules:\n" + rules), 259, 7,
            "'l4.rules' has 258 rules, but the kernel's filter holds at most 256 (the size of its rule map), and this is rule 257",
            "merge rules with wider CIDRs or port ranges, or remove some");
    }

    // --- addresses ---

    [Theory]
    [InlineData("10.0.0.1/8", "'l4.rules[0].from' is '10.0.0.1/8', which has bits set after the prefix length; write 10.0.0.0/8")]
    [InlineData("fd00::1/64", "which has bits set after the prefix length; write fd00::/64")]
    [InlineData("10.0.0.0/33", "'l4.rules[0].from' is '10.0.0.0/33', whose prefix length is not a number from 0 to 32")]
    [InlineData("fd00::/129", "whose prefix length is not a number from 0 to 128")]
    [InlineData("10.0.0.0/", "whose prefix length is not a number from 0 to 32")]
    [InlineData("10.0/8", "'l4.rules[0].from' has the address '10.0', which is not an IPv4 or IPv6 address")]
    [InlineData("intranet", "which is a name, not an IP address")]
    [InlineData("\"::ffff:10.0.0.0/104\"", "'l4.rules[0].from' is the IPv4-mapped network ::ffff:10.0.0.0/104, which would never match", "write 10.0.0.0/8")]
    [InlineData("[10.0.0.0/8]", "'l4.rules[0].from' expects a CIDR, but found a list")]
    public void Parse_BadFrom_AsksForCidr(string from, params string[] message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: deny\n      from: {from}\n"), 4, 13, message);
    }

    [Fact]
    public void Parse_BadTo_ReportsAtTo()
    {
        AssertError(SingleError("l4:\n  rules:\n    - action: deny\n      to: 192.168.1.1/24\n"), 4, 11, "'l4.rules[0].to' is '192.168.1.1/24'", "write 192.168.1.0/24");
    }

    [Theory]
    [InlineData("10.0.0.0/8", "fd00::/64", "'l4.rules[0].to' is IPv6 but 'from' is IPv4")]
    [InlineData("fd00::1", "0.0.0.0/0", "'l4.rules[0].to' is IPv4 but 'from' is IPv6")]
    public void Parse_FromAndToOfDifferentFamilies_ReportsAtTo(string from, string to, string message)
    {
        var error = SingleError($"l4:\n  rules:\n    - action: deny\n      from: {from}\n      to: {to}\n");

        AssertError(error, 5, 11, message, "the rule could never match", "write both as IPv4 or both as IPv6");
    }

    // --- ports ---

    [Fact]
    public void Parse_PortsWithIcmp_ReportsAtPorts()
    {
        var error = SingleError("l4:\n  rules:\n    - action: deny\n      protocol: icmp\n      ports: 8\n");

        Assert.Equal(new ConfigError(FileName, 5, 7,
            "'l4.rules[0]' is for icmp, which has no ports, so 'ports' could never match; remove 'ports', or write 'protocol: tcp' or 'protocol: udp'"), error);
    }

    [Theory]
    [InlineData("0", "'l4.rules[0].ports' is 0, but a port must be from 1 to 65535")]
    [InlineData("65536", "'l4.rules[0].ports' is 65536, but a port must be from 1 to 65535; write one such as 443, or a range such as 8000-8080")]
    [InlineData("0-1024", "'l4.rules[0].ports' is 0-1024, but a port must be from 1 to 65535")]
    [InlineData("1024-70000", "'l4.rules[0].ports' is 1024-70000, but a port must be from 1 to 65535")]
    [InlineData("8080-8000", "'l4.rules[0].ports' is '8080-8000', whose first port is above its last; write the lower port first: 8000-8080")]
    [InlineData("http", "'l4.rules[0].ports' is 'http', which is not a port or a port range")]
    [InlineData("8000 - 8080", "which is not a port or a port range; write a port from 1 to 65535, such as 443, or a range such as 8000-8080")]
    [InlineData("-23", "which is not a port or a port range")]
    [InlineData("\"\"", "'l4.rules[0].ports' has no value")]
    [InlineData("[80, 443]", "'l4.rules[0].ports' expects a port or a port range, but found a list")]
    public void Parse_BadPorts_AsksForPortOrRange(string ports, string message)
    {
        AssertError(SingleError($"l4:\n  rules:\n    - action: deny\n      protocol: tcp\n      ports: {ports}\n"), 5, 14, message);
    }

    [Fact]
    public void Parse_SeveralMistakes_ReportsEachInFileOrder()
    {
        var errors = Errors("""
            l4:
              default: block
              interfaces:
                - { name: eth0, mode: fast }
              rules:
                - { action: deny, from: 10.0.0.1/8 }
                - { action: allow, protocol: icmp, ports: 7 }
            """);

        Assert.Equal([(2, 12), (4, 27), (6, 29), (7, 40)], errors.Select(e => (e.Line, e.Column)));
    }
}
