using System.Net;
using Mesh.Config;

namespace Mesh.Agent.Workloads;

/// <summary>
/// A workload on this node: a cgroup below the one the agent serves whose processes live in a network namespace
/// other than the agent's. One per namespace: of several cgroups in one namespace (a pod's containers), the first
/// found stands for it.
/// </summary>
/// <param name="Cgroup">The cgroup v2 directory.</param>
/// <param name="CgroupId">The kernel's id of the cgroup (bpf_get_current_cgroup_id()).</param>
/// <param name="NetnsCookie">The namespace's cookie (SO_NETNS_COOKIE, bpf_get_netns_cookie()).</param>
/// <param name="NetnsInode">The namespace's inode, as /proc/PID/ns/net names it.</param>
/// <param name="Addresses">The namespace's addresses besides loopback, followed as they change.</param>
/// <param name="Pid">A process of the workload, when it was found: the way into its namespace.</param>
/// <param name="Declared">The config's entry for the cgroup (name, labels), or null when the config does not name it.</param>
public sealed record Workload(
    string Cgroup,
    ulong CgroupId,
    ulong NetnsCookie,
    ulong NetnsInode,
    IReadOnlyList<IPAddress> Addresses,
    int Pid,
    WorkloadConfig? Declared)
{
    /// <summary>The config's name, or null.</summary>
    public string? Name => Declared?.Name;
}

/// <summary>Is told about workloads as they come and go; called one at a time, in order.</summary>
public interface IWorkloadObserver
{
    void Added(Workload workload);

    /// <summary>The workload's namespace gained or lost addresses; <paramref name="workload"/> has them all.</summary>
    void AddressesChanged(Workload workload);

    void Removed(Workload workload);
}

/// <summary>The workloads the agent serves now, and a way to follow them.</summary>
public interface IWorkloadRegistry
{
    IReadOnlyList<Workload> Current { get; }

    /// <summary>Tells <paramref name="observer"/> about every current workload (as added), then about each change, until disposed.</summary>
    IDisposable Subscribe(IWorkloadObserver observer);
}
