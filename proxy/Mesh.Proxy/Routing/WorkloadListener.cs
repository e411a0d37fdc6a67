using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>
/// The workload whose network namespace a connection's listener is in: the proxy knows a namespaced client by the
/// listener it reached, as only processes in that namespace can reach it. Kept in the connection's items.
/// </summary>
/// <param name="Name">The workload's name in the config; null for a workload the config does not name.</param>
public sealed record WorkloadListener(string? Name)
{
    private static readonly object ItemKey = new();

    /// <summary>Marks a connection accepted on this workload's listener.</summary>
    public void Mark(ConnectionContext connection) => connection.Items[ItemKey] = this;

    /// <summary>The workload of the request's connection, or null when it came to a listener of the proxy's own namespace.</summary>
    public static WorkloadListener? Of(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var workload) == true ? workload as WorkloadListener : null;
}
