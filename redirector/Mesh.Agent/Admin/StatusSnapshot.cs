using System.Text.Json;
using Mesh.Agent.Flows;
using Mesh.Agent.L4;
using Mesh.Agent.L7;
using Mesh.Agent.Services;
using Mesh.Agent.Workloads;
using Mesh.Datapath.Maps;

namespace Mesh.Agent.Admin;

/// <summary>Everything `mesh status` shows, as the running agent serves it on its admin socket (GET /v1/status).</summary>
public sealed record StatusSnapshot(
    AgentState Agent,
    SpliceCounterSnapshot Splice,
    int SplicedSockets,
    DivertStatus? Divert,
    L4Status? L4,
    FlowEventTotals? FlowEvents,
    AgentMemory? Memory = null,
    IReadOnlyList<ServiceStatus>? Services = null,
    LbCounterSnapshot? Translation = null,
    IReadOnlyList<WorkloadStatus>? Workloads = null)
{
    /// <summary>How the admin API writes and the CLI reads it: the kernel mirrors keep their counters in fields.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { IncludeFields = true };
}
