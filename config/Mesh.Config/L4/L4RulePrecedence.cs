using System.Net;
using System.Net.Sockets;

namespace Mesh.Config;

/// <summary>
/// The order in which <c>l4.rules</c> are tried, by the kernel and by <see cref="L4Policy.Decide"/>;
/// the first rule that matches a packet decides. Rules are ordered by, in turn:
/// <list type="number">
/// <item>the longer destination prefix (<c>to</c>) first;</item>
/// <item>then the longer source prefix (<c>from</c>) first;</item>
/// <item>then the lower <c>priority</c> first;</item>
/// <item>then the rule written first in the file.</item>
/// </list>
/// Prefix lengths are compared as IPv6 ones, an IPv4 network counting as IPv4-mapped IPv6: /n of
/// IPv4 is /96+n, and a rule without <c>to</c> (or <c>from</c>) has length 0. So 0.0.0.0/0, which
/// only matches IPv4, comes before a rule for any address. Networks of different families never
/// match the same packet, so how they compare with each other does not change a decision.
/// </summary>
public static class L4RulePrecedence
{
    /// <summary>The rules in precedence order; file orders are unique, so the order is total.</summary>
    public static ValueList<L4Rule> Order(IEnumerable<L4Rule> rules) =>
        ValueList.From(rules
            .OrderByDescending(r => PrefixLength(r.To))
            .ThenByDescending(r => PrefixLength(r.From))
            .ThenBy(r => r.Priority)
            .ThenBy(r => r.FileOrder));

    /// <summary>The network's prefix length as IPv6 (IPv4's /n is /96+n); 0 for null, any address.</summary>
    public static int PrefixLength(IPNetwork? network) => network switch
    {
        null => 0,
        { } n when n.BaseAddress.AddressFamily == AddressFamily.InterNetwork => 96 + n.PrefixLength,
        { } n => n.PrefixLength,
    };
}
