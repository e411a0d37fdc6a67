using System.Globalization;
using Mesh.Config;
using Mesh.Datapath.Programs;

namespace Mesh.Agent.L7;

/// <summary>
/// How clients are recognised as services. The config says a connection comes from a service when its socket is in the
/// service's cgroup (recorded by the kernel at connect()) or its address is in one of the service's CIDRs. Only services
/// a rule allows are sources. The proxy names each client after exactly one service: by cgroup first (the deepest
/// configured one the client was in), else the one with the longest matching prefix. This resolves the cgroups to the
/// kernel's ids, for the kernel to record and the proxy to look up, and says where the config asks for what the
/// proxy cannot do.
/// </summary>
internal sealed class ClientSources
{
    private readonly Func<string, ulong?> _cgroupIdOf;

    /// <param name="cgroupIdOf">
    /// The kernel's id of a cgroup v2 directory, or null when there is none; by default read from the file system
    /// (<see cref="Cgroup.IdOf"/>).
    /// </param>
    public ClientSources(Func<string, ulong?>? cgroupIdOf = null)
    {
        _cgroupIdOf = cgroupIdOf ?? (path => Directory.Exists(path) ? Cgroup.IdOf(path) : null);
    }

    /// <summary>
    /// The kernel's id of each source cgroup, by path, and one warning per difference between the config and what the
    /// proxy will do, each starting with the config path it is about, such as <c>services[batch].source.cgroup</c>.
    /// </summary>
    public (IReadOnlyDictionary<string, ulong> CgroupIds, IReadOnlyList<string> Warnings) Resolve(MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var warnings = new List<string>();
        var allowing = AllowingRules(config);
        var allowed = allowing.SelectMany(r => r.AllowFrom).ToHashSet(StringComparer.Ordinal);
        var sources = config.Services.Where(s => allowed.Contains(s.Name) && s.Source is not null).ToList();
        var cgroupIds = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var service in sources)
        {
            // A cgroup that does not exist (yet) recognises nobody: the warning says so, and a reload after it is made
            // picks it up.
            if (service.Source!.Cgroup is not { } cgroup)
            {
                continue;
            }
            if (_cgroupIdOf(cgroup) is { } id)
            {
                cgroupIds[cgroup] = id;
                continue;
            }
            warnings.Add($"services[{service.Name}].source.cgroup: {cgroup} does not exist on this node, so no connection counts as "
                + $"'{service.Name}' by its cgroup until it does (and the config is reloaded)");
        }

        WarnUndeclaredWorkloads(config, warnings);
        WarnOverlappingSources(sources, allowing, warnings);
        return (cgroupIds, warnings);
    }

    /// <summary>A source.workload that names no workload of the config recognises nobody: the warning says so.</summary>
    private static void WarnUndeclaredWorkloads(MeshConfig config, List<string> warnings)
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
    private static void WarnOverlappingSources(List<ServiceConfig> sources, List<(string Path, IReadOnlyList<string> AllowFrom)> allowing, List<string> warnings)
    {
        // The proxy's lookup order: longest prefix first, ties in file order (a stable sort, as in the proxy).
        var ranked = sources.SelectMany(s => s.Source!.Cidrs.Select(network => (Service: s.Name, Network: network)))
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
    private static List<(string Path, IReadOnlyList<string> AllowFrom)> AllowingRules(MeshConfig config) =>
        [.. config.Services.Where(s => s.HasHttpPolicy).SelectMany(s => s.Rules
            .Select((rule, i) => (Path: $"services[{s.Name}].rules[{rule.Name ?? i.ToString(CultureInfo.InvariantCulture)}]", rule.Authorization))
            .Where(r => r.Authorization is not null)
            .Select(r => (r.Path, (IReadOnlyList<string>)r.Authorization!.AllowFrom)))];
}
