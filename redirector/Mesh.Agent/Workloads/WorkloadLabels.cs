using Mesh.Agent.Discovery;

namespace Mesh.Agent.Workloads;

/// <summary>
/// A workload's labels, its identity for <c>source.labels</c>: the Docker labels of the containers in its network
/// namespace (found by the namespace of each container's process), and its labels under <c>workloads</c>, which win
/// where both set a key, as the file is the operator's word.
/// </summary>
internal static class WorkloadLabels
{
    /// <summary>The containers by the network namespace inode of their process; one whose process is gone is left out.</summary>
    public static ILookup<ulong, DiscoveredContainer> ByNamespace(IReadOnlyList<DiscoveredContainer> containers, Func<int, ulong?> netnsInodeOf) =>
        containers.Select(container => (Inode: netnsInodeOf(container.Pid), Container: container))
            .Where(entry => entry.Inode is not null)
            .ToLookup(entry => entry.Inode!.Value, entry => entry.Container);

    public static IReadOnlyDictionary<string, string> Of(Workload workload, ILookup<ulong, DiscoveredContainer> containersByNamespace)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var inNamespace = containersByNamespace[workload.NetnsInode].ToList();
        // Of several containers sharing the namespace (a pod's), only the labels all of them carry count: the proxy
        // knows the namespace a connection came from, not which container made it.
        foreach (var (key, value) in inNamespace.FirstOrDefault()?.Labels ?? new Dictionary<string, string>())
        {
            if (inNamespace.TrueForAll(container => container.Labels.TryGetValue(key, out var other) && other == value))
            {
                labels[key] = value;
            }
        }
        foreach (var (key, value) in workload.Declared?.Labels ?? [])
        {
            labels[key] = value;
        }
        return labels;
    }

    public static bool Same(IReadOnlyDictionary<string, string> first, IReadOnlyDictionary<string, string> second) =>
        first.Count == second.Count && first.All(label => second.TryGetValue(label.Key, out var value) && value == label.Value);
}
