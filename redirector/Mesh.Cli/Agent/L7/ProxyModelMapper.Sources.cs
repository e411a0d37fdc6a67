using System.Globalization;
using Mesh.Proxy.Configuration;
using Cfg = Mesh.Config;

namespace Mesh.Cli.Agent.L7;

/// <summary>
/// Where the proxy recognises clients differently from the config. The config says a connection comes from a service
/// when its address is in one of the service's CIDRs or its socket is in the service's cgroup, so one client may be
/// several services. The proxy knows addresses only, and names each client after exactly one service: the one with
/// the longest matching prefix (<see cref="ProxyService.SourceCidrs"/>).
/// </summary>
internal sealed partial class ProxyModelMapper
{
    /// <summary>Not enforced: source.cgroup. The proxy sees the client's address, not its socket's cgroup.</summary>
    private static void WarnUnrecognisedSources(Cfg.MeshConfig config, HashSet<string> sources, List<(string Path, IReadOnlyList<string> AllowFrom)> allowing, List<string> warnings)
    {
        foreach (var service in config.Services)
        {
            if (!sources.Contains(service.Name) || service.Source?.Cgroup is not { } cgroup)
            {
                continue;
            }

            var rules = string.Join(", ", allowing.Where(r => r.AllowFrom.Contains(service.Name)).Select(r => r.Path));
            warnings.Add(service.Source.Cidrs.Count == 0
                ? $"services[{service.Name}].source.cgroup: not enforced: the proxy recognises clients by address only, so no connection "
                    + $"counts as '{service.Name}', and {rules} refuse all of its requests; give '{service.Name}' source cidrs"
                : $"services[{service.Name}].source.cgroup: not enforced: the proxy recognises clients by address only, so connections "
                    + $"from {cgroup} count as '{service.Name}' only when their address is in its cidrs ({rules})");
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
