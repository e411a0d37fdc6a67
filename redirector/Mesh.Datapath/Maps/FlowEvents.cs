using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>enum flow_verdict</c>.</summary>
public enum FlowVerdict : uint
{
    Spliced = 1,
    Diverted = 2,
    Denied = 3,
    Dropped = 4,
    Translated = 5,
}

/// <summary>Mirror of <c>struct flow_event</c>: one record of the flow_events ring buffer.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FlowEvent
{
    public ulong TimestampNs;
    public ulong SocketCookie;
    public uint Verdict;
    public uint Family;
    public fixed uint Source[4];
    public fixed uint Destination[4];
    public uint SourcePort;
    public uint DestinationPort;
    public uint Protocol;
    public uint RuleSlot;

    public readonly IPEndPoint SourceEndPoint
    {
        get
        {
            fixed (uint* address = Source)
            {
                return EndPoint(address, SourcePort);
            }
        }
    }

    public readonly IPEndPoint DestinationEndPoint
    {
        get
        {
            fixed (uint* address = Destination)
            {
                return EndPoint(address, DestinationPort);
            }
        }
    }

    private readonly IPEndPoint EndPoint(uint* address, uint port)
    {
        var bytes = new ReadOnlySpan<byte>(address, Family == AddressFamilies.Of(AddressFamily.InterNetwork) ? 4 : 16);
        return new IPEndPoint(new IPAddress(bytes), (int)port);
    }
}

/// <summary>Mirror of <c>struct flow_settings</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FlowSettings
{
    public uint XdpSampleEvery;
    public uint TranslatedPerWindow;
}

/// <summary>Mirror of <c>enum flow_counter</c>: the indexes of the per-CPU flow_counters array.</summary>
public enum FlowCounter : uint
{
    EventsSent = 0,
    EventsLost = 1,
    XdpDropsSeen = 2,
    TranslatedWindow = 3,
    TranslatedInWindow = 4,
}
