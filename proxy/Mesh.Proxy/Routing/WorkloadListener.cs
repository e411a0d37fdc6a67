using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>
/// The workload whose network namespace a connection's listener is in: the proxy knows a namespaced client by the
/// listener it reached, as only processes in that namespace can reach it. Kept in the connection's items.
/// </summary>
public sealed class WorkloadListener
{
    private static readonly object ItemKey = new();

    private IReadOnlyDictionary<string, string> _labels;

    /// <param name="name">The workload's name in the config; null for a workload the config does not name.</param>
    /// <param name="labels">The workload's labels (its containers' and the config's); none when null.</param>
    public WorkloadListener(string? name, IReadOnlyDictionary<string, string>? labels = null)
    {
        Name = name;
        _labels = labels ?? new Dictionary<string, string>();
    }

    /// <summary>The workload's name in the config, or null.</summary>
    public string? Name { get; }

    /// <summary>The workload's labels now: they can come after its listener (a container's labels after its namespace was served).</summary>
    public IReadOnlyDictionary<string, string> Labels => Volatile.Read(ref _labels);

    /// <summary>Replaces the labels; requests from then on, on connections old and new, are identified by the new ones.</summary>
    public void Relabel(IReadOnlyDictionary<string, string> labels) => Volatile.Write(ref _labels, labels);

    /// <summary>Marks a connection accepted on this workload's listener.</summary>
    public void Mark(ConnectionContext connection) => connection.Items[ItemKey] = this;

    /// <summary>The workload of the request's connection, or null when it came to a listener of the proxy's own namespace.</summary>
    public static WorkloadListener? Of(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var workload) == true ? workload as WorkloadListener : null;
}
