using System.Collections.Frozen;
using System.Net;

namespace Mesh.Proxy.Routing;

/// <summary>The allowed source services of a service or route.</summary>
internal sealed class AuthorizationRule(IEnumerable<string> allowedSources, string scope)
{
    private readonly FrozenSet<string> _allowed = allowedSources.ToFrozenSet(StringComparer.Ordinal);

    public bool Allows(string? source) => source is not null && _allowed.Contains(source);

    public string DenyReason(string? source) =>
        source is null ? $"unknown source is not allowed by {scope}" : $"source {source} is not allowed by {scope}";
}

/// <summary>
/// Names the source service of a client: the service of its source cgroup when the kernel recorded one, else, for a
/// connection that arrived on a workload's listener, the service of that workload, else the service whose CIDR
/// contains its address, longest prefix first. A workload's client is never named by address: its 127.0.0.1 is its
/// own namespace's loopback, not the node's.
/// </summary>
internal sealed class SourceIdentifier
{
    private readonly (IPNetwork Network, string Service)[] _networks;
    private readonly FrozenDictionary<ulong, string> _cgroups;
    private readonly FrozenDictionary<string, string> _workloads;

    public SourceIdentifier(IEnumerable<Configuration.ProxyService> services)
    {
        var list = services.ToList();
        _networks = [.. list
            .SelectMany(s => s.SourceCidrs.Select(n => (Network: n, Service: s.Name)))
            .OrderByDescending(e => e.Network.PrefixLength)];
        _cgroups = list
            .SelectMany(s => s.SourceCgroupIds.Select(id => (Id: id, Service: s.Name)))
            .DistinctBy(e => e.Id)
            .ToFrozenDictionary(e => e.Id, e => e.Service);
        _workloads = list
            .SelectMany(s => s.SourceWorkloads.Select(workload => (Workload: workload, Service: s.Name)))
            .DistinctBy(e => e.Workload)
            .ToFrozenDictionary(e => e.Workload, e => e.Service, StringComparer.Ordinal);
    }

    public string? Identify(IPAddress? address, ulong sourceCgroup = 0, WorkloadListener? workload = null)
    {
        if (sourceCgroup != 0 && _cgroups.TryGetValue(sourceCgroup, out var byCgroup))
        {
            return byCgroup;
        }
        if (workload is not null)
        {
            return workload.Name is { } name && _workloads.TryGetValue(name, out var byWorkload) ? byWorkload : null;
        }
        if (address is null)
        {
            return null;
        }

        address = Addresses.Normalize(address);
        foreach (var (network, service) in _networks)
        {
            if (network.Contains(address))
            {
                return service;
            }
        }

        return null;
    }
}
