using System.Net;
using System.Net.Sockets;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one entry of <c>l4.rules</c>, and checks the keys that cannot go together.</summary>
internal sealed class L4RuleBinder
{
    public static readonly (string, L4Action)[] Actions = [("allow", L4Action.Allow), ("deny", L4Action.Deny)];

    private static readonly (string, L4Protocol)[] Protocols =
        [("tcp", L4Protocol.Tcp), ("udp", L4Protocol.Udp), ("icmp", L4Protocol.Icmp), ("any", L4Protocol.Any)];

    private const string PortsHint = "write 'ports', with a port such as 443 or a range such as 8000-8080";

    private readonly MappingBinder<L4Rule> _rule = new(
    [
        new("name", (rule, value, path, errors) =>
            ScalarValues.ReadName(value, path, "block-telnet", errors) is { } name ? rule with { Name = name } : rule),
        new("action", (rule, value, path, errors) =>
            ScalarValues.ReadWord(value, path, Actions, errors) is { } action ? rule with { Action = action } : rule, Required: "action: deny"),
        new("from", (rule, value, path, errors) => ReadNetwork(value, path, errors) is { } from ? rule with { From = from } : rule),
        new("to", (rule, value, path, errors) => ReadNetwork(value, path, errors) is { } to ? rule with { To = to } : rule),
        new("protocol", (rule, value, path, errors) =>
        {
            if (value is ScalarNode { Value: "icmpv6" or "icmp6" or "ipv6-icmp" } icmp6)
            {
                errors.Add(icmp6, $"'{path}' is '{icmp6.Value}'; write 'icmp', which means ICMPv6 in IPv6 packets and ICMP in IPv4 ones");
                return rule;
            }
            return ScalarValues.ReadWord(value, path, Protocols, errors) is { } protocol ? rule with { Protocol = protocol } : rule;
        }),
        new("ports", (rule, value, path, errors) =>
            NetworkValues.ReadPortRange(value, path, errors) is { } ports ? rule with { Ports = ports } : rule),
        new("priority", (rule, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 0, 65535, "10", errors, "a lower priority is tried first among rules with the same prefixes") is { } priority
                ? rule with { Priority = priority }
                : rule),
    ], new Dictionary<string, string>
    {
        ["port"] = PortsHint,
        ["dport"] = PortsHint,
        ["proto"] = "write 'protocol'",
        ["source"] = "write 'from'",
        ["src"] = "write 'from'",
        ["destination"] = "write 'to'",
        ["dst"] = "write 'to'",
    });

    /// <param name="fileOrder">The rule's place in the file, from 1.</param>
    public L4Rule Bind(ConfigNode node, string path, int fileOrder, ConfigErrorList errors)
    {
        var defaults = new L4Rule { Name = $"rule-{fileOrder}", Action = L4Action.Allow, FileOrder = fileOrder, Line = node.Line };
        var rule = _rule.Bind(node, defaults, path, errors);
        if (node is MappingNode mapping)
        {
            CheckCombinations(rule, mapping, path, errors);
        }
        return rule;
    }

    private static void CheckCombinations(L4Rule rule, MappingNode mapping, string path, ConfigErrorList errors)
    {
        if (rule.Protocol == L4Protocol.Icmp && mapping.Find("ports") is { } ports)
        {
            errors.Add(ports.Key, $"'{path}' is for icmp, which has no ports, so 'ports' could never match; remove 'ports', or write 'protocol: tcp' or 'protocol: udp'");
        }
        if (rule is { From: { } from, To: { } to } && from.BaseAddress.AddressFamily != to.BaseAddress.AddressFamily)
        {
            errors.Add(mapping.Find("to")!.Value, $"'{path}.to' is {Family(to)} but 'from' is {Family(from)}, and a packet has one family, so the rule could never match; "
                + "write both as IPv4 or both as IPv6, with one rule for each family if both are meant");
        }
    }

    /// <summary>A CIDR for a rule. An IPv4-mapped one is refused: packets from such addresses are IPv4 packets, which it would never match.</summary>
    private static IPNetwork? ReadNetwork(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (NetworkValues.ReadCidr(node, path, errors) is not { } network)
        {
            return null;
        }
        if (network.BaseAddress.IsIPv4MappedToIPv6 && network.PrefixLength >= 96)
        {
            var ipv4 = new IPNetwork(network.BaseAddress.MapToIPv4(), network.PrefixLength - 96);
            errors.Add(node, $"'{path}' is the IPv4-mapped network {network}, which would never match: Mesh matches such addresses as IPv4; write {ipv4}");
            return null;
        }
        return network;
    }

    private static string Family(IPNetwork network) => network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6";
}
