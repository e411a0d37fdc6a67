namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>enum splice_counter</c>: the indexes of the per-CPU splice_counters array.</summary>
public enum SpliceCounter : uint
{
    SocketsRegistered = 0,
    MessagesRedirected = 1,
    BytesRedirected = 2,
    LookupsMissed = 3,
    MessagesPassed = 4,
    BytesPassed = 5,
}

/// <summary>The splice counters summed over all CPUs at one moment.</summary>
public sealed record SpliceCounterSnapshot(
    ulong SocketsRegistered,
    ulong MessagesRedirected,
    ulong BytesRedirected,
    ulong LookupsMissed,
    ulong MessagesPassed,
    ulong BytesPassed);
