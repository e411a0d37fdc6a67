using System.Collections.Frozen;
using System.Net;
using Mesh.Config;

namespace Mesh.Proxy.Routing;

/// <summary>The allowed source services of a route.</summary>
internal sealed class AuthorizationRule(IEnumerable<string> allowedSources, string scope)
{
    private readonly FrozenSet<string> _allowed = allowedSources.ToFrozenSet(StringComparer.Ordinal);

    public bool Allows(string? source) => source is not null && _allowed.Contains(source);

    public string DenyReason(string? source) =>
        source is null ? $"unknown source is not allowed by {scope}" : $"source {source} is not allowed by {scope}";
}

/// <summary>
/// Names the source service of a client: the service of its source cgroup when the kernel recorded one, else, for a
/// connection that arrived on a workload's listener, the service naming that workload, else the service whose label
/// selector the workload's labels hold (the most labels first, then file order), else the service whose CIDR
/// contains its address, longest prefix first. A workload's client is never named by address: its 127.0.0.1 is its
/// own namespace's loopback, not the node's.
/// </summary>
internal sealed class SourceIdentifier
{
    private readonly (IPNetwork Network, string Service)[] _networks;
    private readonly FrozenDictionary<ulong, string> _cgroups;
    private readonly FrozenDictionary<string, string> _workloads;
    private readonly (LabelMatch[] Selector, string Service)[] _labelled;

    /// <param name="services">Every service of the config.</param>
    /// <param name="cgroupIds">The kernel's id of each source cgroup, by path; a cgroup missing here recognises nobody.</param>
    public SourceIdentifier(IReadOnlyList<ServiceConfig> services, IReadOnlyDictionary<string, ulong> cgroupIds)
    {
        var allowed = services.SelectMany(s => s.Rules)
            .SelectMany(r => r.Authorization?.AllowFrom ?? [])
            .ToHashSet(StringComparer.Ordinal);
        var sources = services.Where(s => allowed.Contains(s.Name) && s.Source is not null).ToList();
        _networks = [.. sources
            .SelectMany(s => s.Source!.Cidrs.Select(n => (Network: n, Service: s.Name)))
            .OrderByDescending(e => e.Network.PrefixLength)];
        _cgroups = sources
            .Where(s => s.Source!.Cgroup is { } path && cgroupIds.ContainsKey(path))
            .Select(s => (Id: cgroupIds[s.Source!.Cgroup!], Service: s.Name))
            .DistinctBy(e => e.Id)
            .ToFrozenDictionary(e => e.Id, e => e.Service);
        _workloads = sources
            .Where(s => s.Source!.Workload is not null)
            .Select(s => (Workload: s.Source!.Workload!, Service: s.Name))
            .DistinctBy(e => e.Workload)
            .ToFrozenDictionary(e => e.Workload, e => e.Service, StringComparer.Ordinal);
        _labelled = [.. sources
            .Where(s => s.Source!.Labels.Count > 0)
            .Select(s => (Selector: s.Source!.Labels.ToArray(), Service: s.Name))
            .OrderByDescending(e => e.Selector.Length)];
    }

    public string? Identify(IPAddress? address, ulong sourceCgroup = 0, WorkloadListener? workload = null)
    {
        if (sourceCgroup != 0 && _cgroups.TryGetValue(sourceCgroup, out var byCgroup))
        {
            return byCgroup;
        }
        if (workload is not null)
        {
            return workload.Name is { } name && _workloads.TryGetValue(name, out var byWorkload) ? byWorkload : ByLabels(workload.Labels);
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

    private string? ByLabels(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (selector, service) in _labelled)
        {
            if (LabelMatch.AllIn(selector, labels))
            {
                return service;
            }
        }
        return null;
    }
}
