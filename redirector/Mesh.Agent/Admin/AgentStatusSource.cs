using Mesh.Agent.Flows;
using Mesh.Agent.L4;
using Mesh.Agent.L7;
using Mesh.Agent.Services;
using Mesh.Agent.Splice;
using Mesh.Agent.Workloads;

namespace Mesh.Agent.Admin;

/// <summary>Assembles a <see cref="StatusSnapshot"/> from the parts of the running agent.</summary>
internal sealed class AgentStatusSource(SpliceAgent splice, L7Agent l7, L4Agent l4, FlowAgent flows, ServicesAgent services, IWorkloadRegistry workloads)
{
    /// <summary>The agent's status now, or null while it has not finished starting.</summary>
    public StatusSnapshot? Snapshot() =>
        splice.State is { } state && splice.ReadCounters() is { } counters
            ? new StatusSnapshot(state, counters, splice.SplicedSocketCount(), l7.DivertStatus(), l4.Status(), flows.Totals(), AgentMemory.OfThisProcess(),
                services.Status(), services.ReadCounters(), Workloads())
            : null;

    private List<WorkloadStatus> Workloads() =>
        [.. workloads.Current.OrderBy(w => w.Cgroup, StringComparer.Ordinal).Select(w =>
        {
            var (listeners, labels) = l7.WorkloadProxyView(w.Cgroup);
            return new WorkloadStatus(w.Cgroup, w.Name, w.NetnsCookie, [.. w.Addresses.Select(a => a.ToString())], listeners, labels);
        })];
}
