using Mesh.Agent.Workloads;
using Mesh.Datapath.Programs;

namespace Mesh.Agent.Splice;

/// <summary>
/// Serves each workload's network namespace to the splice while the workload exists, so that its connections with the
/// host and with other workloads on the node are spliced; a namespace the agent does not know is never on the node.
/// </summary>
internal sealed class WorkloadSplice(SpliceDatapath datapath) : IWorkloadObserver
{
    public void Added(Workload workload) => datapath.ServeNamespace(workload.NetnsCookie, workload.Addresses);

    public void AddressesChanged(Workload workload) => datapath.ServeNamespace(workload.NetnsCookie, workload.Addresses);

    public void Removed(Workload workload) => datapath.ForgetNamespace(workload.NetnsCookie);
}
