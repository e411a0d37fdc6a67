namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>enum splice_counter</c>: the indexes of the per-CPU splice_counters array.</summary>
public enum SpliceCounter : uint
{
    SocketsRegistered,
    MessagesRedirected = 1,
    BytesRedirected = 2,
    LookupsMissed = 3,
    MessagesPassed = 4,
    BytesPassed = 5,
    DirectionsSpliced = 6,
    DirectionsStartedOnTcp = 7,
    DirectionsSwitched = 8,
    MessagesAwaitingReader = 9,
    MessagesHeldForReader = 10,
}

/// <summary>The splice counters summed over all CPUs at one moment.</summary>
public sealed record SpliceCounterSnapshot(
    ulong SocketsRegistered,
    ulong MessagesRedirected,
    ulong BytesRedirected,
    ulong LookupsMissed,
    ulong MessagesPassed,
    ulong BytesPassed,
    ulong DirectionsSpliced,
    ulong DirectionsStartedOnTcp,
    ulong DirectionsSwitched,
    ulong MessagesAwaitingReader,
    ulong MessagesHeldForReader)
{
    /// <summary>Send directions whose every message so far went through TCP.</summary>
    public ulong DirectionsKeptOnTcp => DirectionsStartedOnTcp - DirectionsSwitched;

    /// <summary>Share of the send directions that were spliced (0 when none sent yet).</summary>
    public double SplicedDirectionShare =>
        DirectionsSpliced + DirectionsKeptOnTcp == 0 ? 0 : DirectionsSpliced / (double)(DirectionsSpliced + DirectionsKeptOnTcp);
}
