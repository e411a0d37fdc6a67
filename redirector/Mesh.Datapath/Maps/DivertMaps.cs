using System.Net;
using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct service_key</c>: a service whose connections go to the node proxy.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ServiceKey
{
    public uint Family;
    public fixed uint Addr[4];
    public uint Port;

    public static ServiceKey From(IPEndPoint service)
    {
        var key = new ServiceKey { Family = AddressFamilies.Of(service.AddressFamily), Port = (uint)service.Port };
        service.Address.GetAddressBytes().CopyTo(new Span<byte>(key.Addr, 16));
        return key;
    }
}

/// <summary>Mirror of <c>struct service_policy</c>: the value of l7_services.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ServicePolicy
{
    /// <summary>SERVICE_FAIL_OPEN: while the proxy is down, connect to the service itself instead of failing.</summary>
    public const uint FailOpen = 1;

    public uint Flags;
}

/// <summary>Mirror of <c>struct original_dst</c>: where a diverted connection was going, and from which source cgroup.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct OriginalDst
{
    public uint Family;
    public fixed uint Addr[4];
    public uint Port;
    public ulong SourceCgroup;
    public uint ServiceId;
    public uint Pad;
}

/// <summary>Mirror of <c>struct divert_settings</c>: the node proxy's listener and the uid whose connections are its own.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct DivertSettings
{
    public uint ProxyIp4;
    public fixed uint ProxyIp6[4];
    public uint ProxyPort;
    public uint ProxyUid;
    public uint Pad;
    public ulong HeartbeatTimeoutNs;
}

/// <summary>Mirror of <c>enum divert_counter</c>: the indexes of the per-CPU divert_counters array.</summary>
public enum DivertCounter : uint
{
    Connections = 0,
    Established = 1,
    OriginalDstAnswered = 2,
    OriginalDstMissed = 3,
    ProxyConnectionsSkipped = 4,
    FailedOpen = 5,
    FailedClosed = 6,
}

/// <summary>Reads the per-CPU divert_counters array into one snapshot.</summary>
public static class DivertCounterReader
{
    public static DivertCounterSnapshot Read(BpfMap counters)
    {
        ulong Sum(DivertCounter counter) => counters.SumPerCpu((uint)counter);
        return new DivertCounterSnapshot(
            Connections: Sum(DivertCounter.Connections),
            Established: Sum(DivertCounter.Established),
            OriginalDstAnswered: Sum(DivertCounter.OriginalDstAnswered),
            OriginalDstMissed: Sum(DivertCounter.OriginalDstMissed),
            ProxyConnectionsSkipped: Sum(DivertCounter.ProxyConnectionsSkipped),
            FailedOpen: Sum(DivertCounter.FailedOpen),
            FailedClosed: Sum(DivertCounter.FailedClosed));
    }
}

/// <summary>The divert counters summed over all CPUs at one moment.</summary>
public sealed record DivertCounterSnapshot(
    ulong Connections, ulong Established, ulong OriginalDstAnswered, ulong OriginalDstMissed, ulong ProxyConnectionsSkipped, ulong FailedOpen, ulong FailedClosed);

/// <summary>A service whose connections go to the node proxy, and what they do while it is down.</summary>
public sealed record DivertedService(IPEndPoint EndPoint, bool FailOpen = false)
{
    /// <summary>A service that fails closed, the default.</summary>
    public static implicit operator DivertedService(IPEndPoint endPoint) => new(endPoint);
}
