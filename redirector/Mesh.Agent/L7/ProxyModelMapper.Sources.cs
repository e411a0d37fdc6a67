using System.Globalization;
using Mesh.Proxy.Configuration;
using Cfg = Mesh.Config;

namespace Mesh.Agent.L7;

/// <summary>
/// How the proxy recognises clients. The config says a connection comes from a service when its socket is in the
/// service's cgroup (recorded by the kernel at connect()) or its address is in one of the service's CIDRs. The proxy
/// names each client after exactly one service: by cgroup first (the deepest configured one the client was in), else
/// the one with the longest matching prefix (<see cref="ProxyService.SourceCidrs"/>).
/// </summary>
internal sealed partial class ProxyModelMapper
{
    /// <summary>
    /// The id of the service's source.cgroup, if it has one. A cgroup that does not exist (yet) recognises nobody: the
    /// warning says so, and a reload after it is made picks it up.
    /// </summary>
    private IReadOnlyList<ulong> SourceCgroupIds(Cfg.ServiceConfig service, List<string> warnings)
    {
        if (service.Source?.Cgroup is not { } cgroup)
        {
            return [];
        }
        if (_cgroupIdOf(cgroup) is { } id)
        {
            return [id];
        }
        warnings.Add($"services[{service.Name}].source.cgroup: {cgroup} does not exist on this node, so no connection counts as "
            + $"'{service.Name}' by its cgroup until it does (and the config is reloaded)");
        return [];
    }

    /// <summary>A source.workload that names no workload of the config recognises nobody: the warning says so.</summary>
    private static void WarnUndeclaredWorkloads(Cfg.MeshConfig config, List<string> warnings)
    {
        foreach (var service in config.Services.Where(s => s.Source?.Workload is { } name && config.Workloads.All(w => w.Name != name)))
        {
            warnings.Add($"services[{service.Name}].source.workload: '{service.Source!.Workload}' is not under 'workloads', so no connection counts as "
                + $"'{service.Name}' by its workload; add it with its cgroup (workloads: [{{ name: {service.Source.Workload}, cgroup: /sys/fs/cgroup/... }}])");
        }
    }

    /// <summary>
    /// Where a client in two services' CIDRs is named after the one that rules do not allow. Only the direction where
    /// the proxy refuses what the config allows exists: the proxy's one service is always one of the config's several.
    /// </summary>
    private static void WarnOverlappingSources(List<ProxyService> services, List<(string Path, IReadOnlyList<string> AllowFrom)> allowing, List<string> warnings)
    {
        // The proxy's lookup order: longest prefix first, ties in list order (a stable sort, as in the proxy).
        var ranked = services.SelectMany(s => s.SourceCidrs.Select(network => (Service: s.Name, Network: network)))
            .OrderByDescending(e => e.Network.PrefixLength)
            .ToList();
        for (var i = 0; i < ranked.Count; i++)
        {
            for (var j = i + 1; j < ranked.Count; j++)
            {
                var (winner, loser) = (ranked[i], ranked[j]);
                // The winner's prefix is at least as long, so the two overlap exactly when the loser's holds the winner's.
                if (winner.Service == loser.Service || !loser.Network.Contains(winner.Network.BaseAddress))
                {
                    continue;
                }

                var refusing = allowing.Where(r => r.AllowFrom.Contains(loser.Service) && !r.AllowFrom.Contains(winner.Service)).Select(r => r.Path).ToList();
                if (refusing.Count > 0)
                {
                    warnings.Add($"services[{loser.Service}].source.cidrs: clients in {winner.Network} are '{loser.Service}' (by {loser.Network}) "
                        + $"and '{winner.Service}'; the proxy names a client after one service, the longest prefix (else the first listed), "
                        + $"so it takes them for '{winner.Service}' only, and {string.Join(", ", refusing)} refuse them");
                }
            }
        }
    }

    /// <summary>The rules with an allowFrom, by their config path (the index when unnamed, as config errors say).</summary>
    private static List<(string Path, IReadOnlyList<string> AllowFrom)> AllowingRules(Cfg.MeshConfig config) =>
        [.. config.Services.Where(s => s.HasHttpPolicy).SelectMany(s => s.Rules
            .Select((rule, i) => (Path: $"services[{s.Name}].rules[{rule.Name ?? i.ToString(CultureInfo.InvariantCulture)}]", rule.Authorization))
            .Where(r => r.Authorization is not null)
            .Select(r => (r.Path, (IReadOnlyList<string>)r.Authorization!.AllowFrom)))];
}
