using System.Text.Json;
using Mesh.Cli.Agent.Flows;
using Mesh.Cli.Agent.Services;
using Mesh.Redirector.Maps;

namespace Mesh.Cli.Agent;

/// <summary>Everything `mesh status` shows, as the running agent serves it on its admin socket (GET /v1/status).</summary>
internal sealed record StatusSnapshot(
    AgentState Agent,
    SpliceCounterSnapshot Splice,
    int SplicedSockets,
    DivertStatus? Divert,
    L4Status? L4,
    FlowEventTotals? FlowEvents,
    AgentMemory? Memory = null,
    IReadOnlyList<ServiceStatus>? Services = null,
    LbCounterSnapshot? Translation = null)
{
    /// <summary>How the admin API writes and the CLI reads it: the kernel mirrors keep their counters in fields.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { IncludeFields = true };
}

/// <summary>The L7 diversion: how many services it diverts, its counters, and the node proxy's process (pid null while it is down).</summary>
internal sealed record DivertStatus(int Services, DivertCounterSnapshot Counters, int? ProxyPid, int ProxyRestarts);

/// <summary>The L4 policy in force and its counters: per rule (same order), the default's, and the XDP parser's.</summary>
internal sealed record L4Status(L4State State, IReadOnlyList<L4RuleStats> RuleStats, L4RuleStats DefaultStats, ulong Malformed, ulong Fragments);

/// <summary>Flow events the kernel sent to the agent, and lost to a full ring buffer.</summary>
internal sealed record FlowEventTotals(ulong Sent, ulong Lost);

/// <summary>
/// The agent process's memory: its resident set, and the part of it the .NET heap holds, so that a growing RSS can be
/// told apart: live objects (<see cref="HeapBytes"/> minus <see cref="FragmentedBytes"/>) that keep growing are a
/// leak; free space between them is heap the GC has not compacted yet.
/// </summary>
internal sealed record AgentMemory(long ResidentBytes, long HeapBytes, long FragmentedBytes, long CommittedBytes, int Gen0, int Gen1, int Gen2)
{
    /// <summary>This process, now (the figures of the last GC for the heap).</summary>
    public static AgentMemory OfThisProcess()
    {
        var gc = GC.GetGCMemoryInfo();
        return new AgentMemory(Environment.WorkingSet, gc.HeapSizeBytes, gc.FragmentedBytes, gc.TotalCommittedBytes,
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    }
}

/// <summary>Assembles a <see cref="StatusSnapshot"/> from the parts of the running agent.</summary>
internal sealed class AgentStatusSource(SpliceAgent splice, L7Agent l7, L4Agent l4, FlowAgent flows, ServicesAgent services)
{
    /// <summary>The agent's status now, or null while it has not finished starting.</summary>
    public StatusSnapshot? Snapshot() =>
        splice.State is { } state && splice.ReadCounters() is { } counters
            ? new StatusSnapshot(state, counters, splice.SplicedSocketCount(), l7.DivertStatus(), l4.Status(), flows.Totals(), AgentMemory.OfThisProcess(),
                services.Status(), services.ReadCounters())
            : null;
}
