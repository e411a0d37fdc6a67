using System.Net;
using System.Net.Sockets;
using Mesh.Config;

namespace Mesh.Datapath.Maps;

/// <summary>
/// One generation of the L3/L4 policy as map entries. Each distinct source (and destination)
/// prefix maps to the set of rules whose CIDR contains that whole prefix; as CIDRs that contain
/// one address are nested, the longest prefix the kernel finds for an address is contained in
/// exactly the rules that contain the address, so one LPM lookup per side yields every candidate.
/// Prefixes are keyed by family, so an IPv6 rule never matches an IPv4 packet (see l4_prefix_key).
/// </summary>
public sealed class L4RuleTables
{
    private L4RuleTables(Dictionary<L4PrefixKey, L4RuleSet> sources, Dictionary<L4PrefixKey, L4RuleSet> destinations, L4RuleEntry[] rules, L4Generation generation)
    {
        Sources = sources;
        Destinations = destinations;
        Rules = rules;
        Generation = generation;
    }

    public IReadOnlyDictionary<L4PrefixKey, L4RuleSet> Sources { get; }

    public IReadOnlyDictionary<L4PrefixKey, L4RuleSet> Destinations { get; }

    /// <summary>The rules in precedence order: index i is bit i of the rule sets.</summary>
    public IReadOnlyList<L4RuleEntry> Rules { get; }

    public L4Generation Generation { get; }

    /// <param name="statsSlotOf">The counters' slot of a rule, by name.</param>
    public static L4RuleTables Compile(L4Policy policy, uint generation, Func<L4Rule, uint> statsSlotOf)
    {
        if (policy.Rules.Count > L4Limits.MaxRules)
        {
            throw new ArgumentException($"{policy.Rules.Count} L4 rules; the kernel filter holds {L4Limits.MaxRules}");
        }
        var rules = policy.Rules.Select(rule => new L4RuleEntry
        {
            Action = (uint)(rule.Action == L4Action.Deny ? L4KernelAction.Deny : L4KernelAction.Allow),
            Protocol = (uint)ProtocolNumber(rule.Protocol),
            PortFirst = rule.Ports?.First ?? 0,
            PortLast = rule.Ports?.Last ?? 0,
            StatsSlot = statsSlotOf(rule),
        }).ToArray();
        return new L4RuleTables(
            PrefixSets(policy.Rules.Select(rule => rule.From).ToList(), generation),
            PrefixSets(policy.Rules.Select(rule => rule.To).ToList(), generation),
            rules,
            new L4Generation
            {
                DefaultAction = (uint)(policy.Default == L4Action.Deny ? L4KernelAction.Deny : L4KernelAction.Allow),
                RuleCount = (uint)rules.Length,
            });
    }

    /// <summary>Each distinct network of the rules (null: any address, always present) with the rules containing it.</summary>
    private static Dictionary<L4PrefixKey, L4RuleSet> PrefixSets(IReadOnlyList<IPNetwork?> networkOfRule, uint generation)
    {
        var sets = new Dictionary<L4PrefixKey, L4RuleSet>();
        foreach (var prefix in networkOfRule.Append(null).Distinct())
        {
            var set = new L4RuleSet();
            for (var rule = 0; rule < networkOfRule.Count; rule++)
            {
                if (Contains(networkOfRule[rule], prefix))
                {
                    set.Add(rule);
                }
            }
            sets[prefix is { } network ? L4PrefixKey.Of(generation, network) : L4PrefixKey.Any(generation)] = set;
        }
        return sets;
    }

    /// <summary>Whether every address of <paramref name="inner"/> is in <paramref name="outer"/>; null is every address.</summary>
    private static bool Contains(IPNetwork? outer, IPNetwork? inner) => (outer, inner) switch
    {
        (null, _) => true,
        (_, null) => false,
        ({ } o, { } i) => o.BaseAddress.AddressFamily == i.BaseAddress.AddressFamily && o.PrefixLength <= i.PrefixLength && o.Contains(i.BaseAddress),
    };

    private static ProtocolType ProtocolNumber(L4Protocol protocol) => protocol switch
    {
        L4Protocol.Tcp => ProtocolType.Tcp,
        L4Protocol.Udp => ProtocolType.Udp,
        L4Protocol.Icmp => ProtocolType.Icmp,
        _ => 0,
    };
}
