using System.Net;
using Mesh.Config;

namespace Mesh.Agent.Discovery;

/// <summary>
/// A running container as the daemon describes it: its labels (its identity and what selectors match), its addresses
/// on each network it is attached to, and its first process, whose network namespace and cgroup are the workload's.
/// </summary>
public sealed record DiscoveredContainer(string Id, string Name, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<IPAddress> Addresses, int Pid)
{
    /// <summary>Whether the container has every label of <paramref name="selector"/> with its value; an empty selector selects none.</summary>
    public bool IsSelectedBy(IReadOnlyList<LabelMatch> selector) => LabelMatch.AllIn(selector, Labels);

    /// <summary>The port its endpoints serve: its <c>mesh.port</c> label, else <paramref name="servicePort"/>.</summary>
    public int PortFor(int servicePort) =>
        Labels.TryGetValue(DockerDiscoverySettings.PortLabel, out var text) && int.TryParse(text, out var port) && port is > 0 and <= 65535
            ? port
            : servicePort;
}
