namespace Mesh.Agent.Admin;

/// <summary>
/// The agent process's memory: its resident set, and the part of it the .NET heap holds, so that a growing RSS can be
/// told apart: live objects (<see cref="HeapBytes"/> minus <see cref="FragmentedBytes"/>) that keep growing are a
/// leak; free space between them is heap the GC has not compacted yet.
/// </summary>
public sealed record AgentMemory(long ResidentBytes, long HeapBytes, long FragmentedBytes, long CommittedBytes, int Gen0, int Gen1, int Gen2)
{
    /// <summary>This process, now (the figures of the last GC for the heap).</summary>
    public static AgentMemory OfThisProcess()
    {
        var gc = GC.GetGCMemoryInfo();
        return new AgentMemory(Environment.WorkingSet, gc.HeapSizeBytes, gc.FragmentedBytes, gc.TotalCommittedBytes,
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    }
}
