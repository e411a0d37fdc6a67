using System.Net;

namespace Mesh.Config;

/// <summary>
/// One entry of <c>l4.rules</c>: the packets it matches, and whether they pass. A packet matches
/// when every condition set here holds; a condition left out holds for every packet.
/// </summary>
public sealed record L4Rule
{
    public const int DefaultPriority = 100;

    /// <summary>Unique among the rules, a DNS label; <c>rule-N</c> when the file gives none, N being the rule's place in the file.</summary>
    public required string Name { get; init; }

    public required L4Action Action { get; init; }

    /// <summary>The source addresses, or null for any. An IPv4 network never matches an IPv6 packet, nor the reverse.</summary>
    public IPNetwork? From { get; init; }

    /// <summary>The destination addresses, or null for any; of the same family as <see cref="From"/> when both are set.</summary>
    public IPNetwork? To { get; init; }

    public L4Protocol Protocol { get; init; } = L4Protocol.Any;

    /// <summary>
    /// The destination ports, or null for any. Only TCP and UDP packets have ports, so a rule with
    /// ports matches no other packet, even with <see cref="L4Protocol.Any"/>; it is never <see cref="L4Protocol.Icmp"/>.
    /// </summary>
    public PortRange? Ports { get; init; }

    /// <summary>0..65535; among rules with the same prefix lengths, the lower value is tried first.</summary>
    public int Priority { get; init; } = DefaultPriority;

    /// <summary>The rule's place in the file, from 1: the last tie-breaker of the precedence order.</summary>
    public int FileOrder { get; init; }

    /// <summary>The line the rule starts at, for messages that point the reader to it.</summary>
    public int Line { get; init; }

    /// <summary>Whether the rule matches the packet, whose addresses are of one family and not IPv4-mapped.</summary>
    internal bool Matches(IPAddress source, IPAddress destination, L4Protocol protocol, int? port) =>
        (From is not { } from || from.Contains(source))
        && (To is not { } to || to.Contains(destination))
        && (Protocol == L4Protocol.Any || Protocol == protocol)
        && (Ports is not { } ports || ((protocol is L4Protocol.Tcp or L4Protocol.Udp) && port is { } p && ports.Contains(p)));
}

/// <summary>The protocol a rule is for.</summary>
public enum L4Protocol
{
    /// <summary>Every protocol. The default.</summary>
    Any,

    Tcp,

    Udp,

    /// <summary>ICMP in IPv4 packets, ICMPv6 in IPv6 ones.</summary>
    Icmp,
}

/// <summary>Ports from <see cref="First"/> to <see cref="Last"/>, both included; one port when they are equal.</summary>
public readonly record struct PortRange(ushort First, ushort Last)
{
    public bool Contains(int port) => port >= First && port <= Last;

    /// <summary>As written in the file: <c>23</c> or <c>8000-8080</c>.</summary>
    public override string ToString() => First == Last ? $"{First}" : $"{First}-{Last}";
}
