using System.Net;
using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>The L3/L4 policy constants of mesh_types.h.</summary>
public static class L4Limits
{
    public const int MaxRules = 256;
    public const int RuleWords = MaxRules / 64;
    public const int Generations = 2;

    /// <summary>The statistics slot of the default decision.</summary>
    public const uint DefaultStatsSlot = MaxRules;
}

/// <summary>Mirror of <c>enum l4_action</c>.</summary>
public enum L4KernelAction : uint
{
    Allow = 0,
    Deny = 1,
}

/// <summary>Mirror of <c>struct l4_prefix_key</c>: a CIDR of one generation in the LPM tries.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct L4PrefixKey
{
    /// <summary>The generation and the family words, matched exactly before any address bit.</summary>
    private const int GenerationBits = 32;
    private const int GenerationAndFamilyBits = 64;

    public uint Prefixlen;
    public uint Generation;
    public uint Family;
    public fixed uint Addr[4];

    public static L4PrefixKey Of(uint generation, IPNetwork network)
    {
        var key = new L4PrefixKey
        {
            Prefixlen = (uint)(GenerationAndFamilyBits + network.PrefixLength),
            Generation = generation,
            Family = AddressFamilies.Of(network.BaseAddress.AddressFamily),
        };
        network.BaseAddress.GetAddressBytes().CopyTo(new Span<byte>(key.Addr, 16));
        return key;
    }

    /// <summary>The key of every address, IPv4 and IPv6: what a rule without <c>from</c> or <c>to</c> matches.</summary>
    public static L4PrefixKey Any(uint generation) => new() { Prefixlen = GenerationBits, Generation = generation };
}

/// <summary>Mirror of <c>struct l4_rule_set</c>: bit i = rule i in precedence order.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct L4RuleSet
{
    public fixed ulong Words[L4Limits.RuleWords];

    public void Add(int rule) => Words[rule / 64] |= 1UL << (rule % 64);
}

/// <summary>Mirror of <c>struct l4_rule</c>: what the tries cannot express, the action and the counters' slot.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct L4RuleEntry
{
    public uint Action;
    public uint Protocol;
    public uint PortFirst;
    public uint PortLast;
    public uint StatsSlot;
}

/// <summary>Mirror of <c>struct l4_generation</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct L4Generation
{
    public uint DefaultAction;
    public uint RuleCount;
}

/// <summary>Mirror of <c>struct l4_active</c>: the generation in force and the swept cgroup.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct L4Active
{
    public uint Generation;
    public uint CgroupLevel;
    public ulong CgroupId;
}

/// <summary>Mirror of <c>struct l4_rule_stats</c>; also the sum over CPUs.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct L4RuleStats
{
    public ulong XdpPackets;
    public ulong XdpBytes;
    public ulong SocketCalls;
    public ulong SocketsDestroyed;

    public static L4RuleStats operator +(L4RuleStats left, L4RuleStats right) => new()
    {
        XdpPackets = left.XdpPackets + right.XdpPackets,
        XdpBytes = left.XdpBytes + right.XdpBytes,
        SocketCalls = left.SocketCalls + right.SocketCalls,
        SocketsDestroyed = left.SocketsDestroyed + right.SocketsDestroyed,
    };
}

/// <summary>Mirror of <c>enum l4_counter</c>: the indexes of the per-CPU l4_counters array.</summary>
public enum L4Counter : uint
{
    XdpNotIp = 0,
    XdpMalformed = 1,
    XdpFragments = 2,
}
