using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Maps;

/// <summary>Reads the per-CPU splice_counters array into one snapshot.</summary>
public static class SpliceCounterReader
{
    public static SpliceCounterSnapshot Read(BpfMap counters)
    {
        ulong Sum(SpliceCounter counter) => counters.SumPerCpu((uint)counter);
        return new SpliceCounterSnapshot(
            SocketsRegistered: Sum(SpliceCounter.SocketsRegistered),
            MessagesRedirected: Sum(SpliceCounter.MessagesRedirected),
            BytesRedirected: Sum(SpliceCounter.BytesRedirected),
            LookupsMissed: Sum(SpliceCounter.LookupsMissed),
            MessagesPassed: Sum(SpliceCounter.MessagesPassed),
            BytesPassed: Sum(SpliceCounter.BytesPassed),
            DirectionsSpliced: Sum(SpliceCounter.DirectionsSpliced),
            DirectionsStartedOnTcp: Sum(SpliceCounter.DirectionsStartedOnTcp),
            DirectionsSwitched: Sum(SpliceCounter.DirectionsSwitched),
            MessagesAwaitingReader: Sum(SpliceCounter.MessagesAwaitingReader),
            MessagesHeldForReader: Sum(SpliceCounter.MessagesHeldForReader));
    }
}
