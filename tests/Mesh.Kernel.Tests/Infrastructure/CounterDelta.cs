using Mesh.Datapath.Maps;

namespace Mesh.Kernel.Tests.Infrastructure;

public static class CounterDelta
{
    /// <summary>What the counters moved by between two snapshots of the same map.</summary>
    public static SpliceCounterSnapshot Minus(this SpliceCounterSnapshot after, SpliceCounterSnapshot before) => new(
        SocketsRegistered: after.SocketsRegistered - before.SocketsRegistered,
        MessagesRedirected: after.MessagesRedirected - before.MessagesRedirected,
        BytesRedirected: after.BytesRedirected - before.BytesRedirected,
        LookupsMissed: after.LookupsMissed - before.LookupsMissed,
        MessagesPassed: after.MessagesPassed - before.MessagesPassed,
        BytesPassed: after.BytesPassed - before.BytesPassed,
        DirectionsSpliced: after.DirectionsSpliced - before.DirectionsSpliced,
        DirectionsStartedOnTcp: after.DirectionsStartedOnTcp - before.DirectionsStartedOnTcp,
        DirectionsSwitched: after.DirectionsSwitched - before.DirectionsSwitched,
        MessagesAwaitingReader: after.MessagesAwaitingReader - before.MessagesAwaitingReader,
        MessagesHeldForReader: after.MessagesHeldForReader - before.MessagesHeldForReader);
}
