using System.Net;

namespace Mesh.Config;

/// <summary>
/// The <c>l4</c> section: which packets and connections the node's XDP filter lets through, by
/// address, protocol and port. With no rules, everything gets <see cref="Default"/>.
/// </summary>
public sealed record L4Policy
{
    /// <summary>The most rules the kernel's filter holds: the size of its rule map.</summary>
    public const int MaxRules = 256;

    /// <summary>What a packet that no rule matches gets.</summary>
    public L4Action Default { get; init; } = L4Action.Allow;

    /// <summary>The interfaces the XDP filter attaches to, in file order; each name appears once.</summary>
    public ValueList<XdpInterface> Interfaces { get; init; } = [];

    /// <summary>
    /// The rules in precedence order (<see cref="L4RulePrecedence"/>), which is the order the kernel
    /// tries them in: the first that matches decides. At most <see cref="MaxRules"/>, names unique.
    /// </summary>
    public ValueList<L4Rule> Rules { get; init; } = [];

    /// <summary>
    /// What the policy does with a packet, exactly as the kernel's filter decides it: the first of
    /// <see cref="Rules"/> that matches, or <see cref="Default"/> when none does.
    /// </summary>
    /// <param name="source">The packet's source; an IPv4-mapped IPv6 address counts as the IPv4 one.</param>
    /// <param name="destination">The packet's destination, of the same address family as <paramref name="source"/>.</param>
    /// <param name="protocol">
    /// The packet's protocol; <see cref="L4Protocol.Icmp"/> stands for ICMPv6 in an IPv6 packet, and
    /// <see cref="L4Protocol.Any"/> for a protocol that is none of the three, which only rules for any protocol match.
    /// </param>
    /// <param name="port">
    /// The TCP or UDP destination port, or null when it is not known (a fragment after the first, or
    /// another protocol); rules with <see cref="L4Rule.Ports"/> never match a packet without one.
    /// </param>
    public L4Decision Decide(IPAddress source, IPAddress destination, L4Protocol protocol, int? port)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (port is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "a port is from 0 to 65535");
        }
        source = Unmapped(source);
        destination = Unmapped(destination);
        if (source.AddressFamily != destination.AddressFamily)
        {
            throw new ArgumentException($"the source {source} and the destination {destination} are of different address families; a packet has one", nameof(destination));
        }
        return Rules.FirstOrDefault(r => r.Matches(source, destination, protocol, port)) is { } rule
            ? new L4Decision(rule, rule.Action)
            : new L4Decision(null, Default);
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>What <see cref="L4Policy.Decide"/> found: the rule that matched, or null when the policy's default decided.</summary>
public sealed record L4Decision(L4Rule? Rule, L4Action Action);

/// <summary>Whether a packet is passed on or dropped.</summary>
public enum L4Action
{
    Allow,
    Deny,
}
