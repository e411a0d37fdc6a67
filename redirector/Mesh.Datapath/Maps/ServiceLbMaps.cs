using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct lb_service_key</c>: a translated service's address, port and protocol.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LbServiceKey
{
    public uint Family;
    public fixed uint Addr[4];
    public uint Port;
    public uint Protocol;

    public static LbServiceKey From(IPEndPoint service, ProtocolType protocol)
    {
        var key = new LbServiceKey { Family = AddressFamilies.Of(service.AddressFamily), Port = (uint)service.Port, Protocol = (uint)protocol };
        service.Address.GetAddressBytes().CopyTo(new Span<byte>(key.Addr, 16));
        return key;
    }
}

/// <summary>Mirror of <c>struct lb_service</c>: the service's active slot table and how many slots it has.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LbService
{
    public uint Id;
    public uint SlotCount;
    public uint Next;
    public uint Pad;
}

/// <summary>Mirror of <c>struct lb_slot_key</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LbSlotKey
{
    public uint Id;
    public uint Slot;
}

/// <summary>Mirror of <c>struct lb_endpoint</c>: where a translated connection goes.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LbEndpoint : IEquatable<LbEndpoint>
{
    public uint Family;
    public fixed uint Addr[4];
    public uint Port;

    public static LbEndpoint From(IPEndPoint endpoint)
    {
        var value = new LbEndpoint { Family = AddressFamilies.Of(endpoint.AddressFamily), Port = (uint)endpoint.Port };
        endpoint.Address.GetAddressBytes().CopyTo(new Span<byte>(value.Addr, 16));
        return value;
    }

    public readonly bool Equals(LbEndpoint other) =>
        Family == other.Family && Port == other.Port
        && Addr[0] == other.Addr[0] && Addr[1] == other.Addr[1] && Addr[2] == other.Addr[2] && Addr[3] == other.Addr[3];

    public override readonly bool Equals(object? obj) => obj is LbEndpoint other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(Family, Port, Addr[0], Addr[3]);
}

/// <summary>Mirror of <c>struct lb_udp_flow</c>: a UDP socket and the endpoint it sent to (key of lb_udp_replies).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LbUdpFlow
{
    public ulong SocketCookie;
    public uint Family;
    public fixed uint Addr[4];
    public uint Port;
}

/// <summary>Mirror of <c>enum lb_counter</c>: the indexes of the per-CPU lb_counters array.</summary>
public enum LbCounter : uint
{
    Translated = 0,
    Refused = 1,
    RepliesRewritten = 2,
}

/// <summary>The translation's counters summed over all CPUs at one moment.</summary>
public sealed record LbCounterSnapshot(ulong Translated, ulong Refused, ulong RepliesRewritten)
{
    public static LbCounterSnapshot Read(BpfMap counters) => new(
        counters.SumPerCpu((uint)LbCounter.Translated),
        counters.SumPerCpu((uint)LbCounter.Refused),
        counters.SumPerCpu((uint)LbCounter.RepliesRewritten));
}

/// <summary>An endpoint of a translated service and its share of the connections.</summary>
public sealed record WeightedEndpoint(IPEndPoint EndPoint, int Weight = 1);

/// <summary>
/// A service the kernel translates: connect() (and UDP sendmsg()) to <see cref="EndPoint"/> goes to one of
/// <see cref="Endpoints"/> by weight; with none, it is refused at once.
/// </summary>
public sealed record BalancedService(IPEndPoint EndPoint, ProtocolType Protocol, IReadOnlyList<WeightedEndpoint> Endpoints);
