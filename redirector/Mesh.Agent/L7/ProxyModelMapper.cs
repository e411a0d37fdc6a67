using System.Globalization;
using System.Net;
using Mesh.Proxy.Configuration;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Cfg = Mesh.Config;

namespace Mesh.Agent.L7;

/// <summary>
/// Translates the YAML config model (<see cref="Cfg.MeshConfig"/>) into the node proxy's runtime model
/// (<see cref="ProxyService"/>). The two describe the same Gateway API-style policy; where the proxy cannot say what
/// the config says, the mapping takes the closest the proxy can do and reports the difference in
/// <see cref="ProxyMapping.Warnings"/>. Stateless: one instance serves every reload.
/// </summary>
internal sealed partial class ProxyModelMapper
{
    private readonly Func<string, ulong?> _cgroupIdOf;

    /// <param name="cgroupIdOf">
    /// The kernel's id of a cgroup v2 directory, or null when there is none; by default read from the file system
    /// (<see cref="Cgroup.IdOf"/>).
    /// </param>
    public ProxyModelMapper(Func<string, ulong?>? cgroupIdOf = null)
    {
        _cgroupIdOf = cgroupIdOf ?? (path => Directory.Exists(path) ? Cgroup.IdOf(path) : null);
    }

    /// <summary>The services and routes for the proxy, with the differences it will not enforce as written.</summary>
    public ProxyMapping Map(Cfg.MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var warnings = new List<string>();
        var policed = config.Services.Where(s => s.HasHttpPolicy).ToList();
        var rules = policed.SelectMany(s => s.Rules).ToList();

        // Only services named in an allowFrom get their source CIDRs: the proxy names a client by the one service whose
        // CIDRs contain it (longest prefix), so every other service's CIDRs could only take clients away from the
        // services that rules allow.
        var sources = rules.SelectMany(r => r.Authorization?.AllowFrom ?? []).ToHashSet(StringComparer.Ordinal);

        // Backends, mirrors and allowed sources may be services without HTTP policy. The proxy resolves every name
        // within its own list, so those go in too, without routes: their endpoints to forward and mirror to, and their
        // CIDRs to recognise clients by. Connections to them are not diverted (see DivertedServices), so the proxy
        // never serves them itself.
        var referenced = new HashSet<string>(sources, StringComparer.Ordinal);
        referenced.UnionWith(rules.SelectMany(r => r.BackendRefs).Select(b => b.Name));
        referenced.UnionWith(rules.SelectMany(r => r.Filters).OfType<Cfg.RequestMirrorFilter>().Select(m => m.BackendName));

        var services = new List<ProxyService>();
        foreach (var service in config.Services)
        {
            if (service.HasHttpPolicy)
            {
                services.Add(Target(service, sources, warnings) with
                {
                    Default = Action(service.Default),
                    Routes = MapRules(service, warnings),
                });
            }
            else if (referenced.Contains(service.Name))
            {
                services.Add(Target(service, sources, warnings));
            }
        }

        WarnUndeclaredWorkloads(config, warnings);
        var allowing = AllowingRules(config);
        WarnOverlappingSources(services, allowing, warnings);
        return new ProxyMapping(services, warnings);
    }

    /// <summary>The address:port of each service with HTTP policy, the connections to divert to the proxy, with its fail mode.</summary>
    public IReadOnlyList<DivertedService> DivertedServices(Cfg.MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return [.. config.Services.Where(s => s.HasHttpPolicy).Select(s => new DivertedService(s.EndPoint, FailOpen: s.FailMode == Cfg.FailMode.Open))];
    }

    /// <summary>A service as something to forward to and recognise clients of, without routes.</summary>
    private ProxyService Target(Cfg.ServiceConfig service, HashSet<string> sources, List<string> warnings) => new()
    {
        Name = service.Name,
        Address = service.EndPoint,
        Endpoints = [.. service.Endpoints],
        Protocol = service.Protocol == Cfg.UpstreamProtocol.H2c ? UpstreamProtocol.H2c : UpstreamProtocol.Http1,
        SourceCidrs = sources.Contains(service.Name) && service.Source is { } source ? [.. source.Cidrs] : [],
        SourceCgroupIds = sources.Contains(service.Name) ? SourceCgroupIds(service, warnings) : [],
        SourceWorkloads = sources.Contains(service.Name) && service.Source?.Workload is { } workload ? [workload] : [],
    };

    private List<ProxyRoute> MapRules(Cfg.ServiceConfig service, List<string> warnings)
    {
        var taken = service.Rules.Select(r => r.Name).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var routes = new List<ProxyRoute>(service.Rules.Count);
        for (var i = 0; i < service.Rules.Count; i++)
        {
            var rule = service.Rules[i];
            var path = $"services[{service.Name}].rules[{rule.Name ?? i.ToString(CultureInfo.InvariantCulture)}]";
            routes.Add(MapRule(rule, rule.Name ?? GeneratedName(i, taken), path, warnings));
        }
        return routes;
    }

    /// <summary>
    /// A name for a rule the file leaves unnamed (the proxy needs one for logs and deny reasons): rule-N after its
    /// index, as the config's errors count rules, made unique against the names the file gives.
    /// </summary>
    private static string GeneratedName(int index, HashSet<string> taken)
    {
        var name = $"rule-{index.ToString(CultureInfo.InvariantCulture)}";
        for (var n = 2; !taken.Add(name); n++)
        {
            name = $"rule-{index.ToString(CultureInfo.InvariantCulture)}-{n.ToString(CultureInfo.InvariantCulture)}";
        }
        return name;
    }

    private ProxyRoute MapRule(Cfg.HttpRouteRule rule, string name, string path, List<string> warnings)
    {
        var matches = rule.Matches.Select(MapMatch).ToList();
        if (rule.Action == Cfg.RouteAction.Deny)
        {
            // A deny rule has nothing else (the config refuses filters and policies beside 'action: deny').
            // Not expressible: the config sends no x-mesh-deny-reason when denyReason is unset, while the proxy
            // then sends its own, "denied by route NAME".
            return new ProxyRoute { Name = name, Matches = matches, Action = ProxyAction.Deny, DenyReason = rule.DenyReason };
        }

        return new ProxyRoute
        {
            Name = name,
            Matches = matches,
            Action = ProxyAction.Allow,
            RequestHeaders = rule.Filters.OfType<Cfg.RequestHeaderModifierFilter>().Select(f => MapHeaders(f.Headers)).FirstOrDefault(),
            ResponseHeaders = rule.Filters.OfType<Cfg.ResponseHeaderModifierFilter>().Select(f => MapHeaders(f.Headers)).FirstOrDefault(),
            Rewrite = rule.Filters.OfType<Cfg.UrlRewriteFilter>().Select(f => new UrlRewrite
            {
                Hostname = f.Hostname,
                Path = MapPathModifier(f.Path),
            }).FirstOrDefault(),
            // The proxy, like Gateway API, uses the scheme's well-known port whenever the redirect sets a scheme; the
            // config's documentation says "when the scheme changes". They differ only for 'scheme: http' without a
            // port (the proxy serves plain HTTP), where the proxy redirects to port 80 rather than the service's.
            Redirect = rule.Filters.OfType<Cfg.RequestRedirectFilter>().Select(f => new RequestRedirect
            {
                Scheme = f.Scheme,
                Hostname = f.Hostname,
                Port = f.Port,
                Path = MapPathModifier(f.Path),
                StatusCode = f.StatusCode,
            }).FirstOrDefault(),
            Mirrors = [.. rule.Filters.OfType<Cfg.RequestMirrorFilter>().Select(m => new RequestMirror { Service = m.BackendName, Percent = m.Percent })],
            // A loaded config names the rule's own service when the file names none; the proxy reads that the same way.
            Backends = [.. rule.BackendRefs.Select(b => new BackendRef(b.Name, b.Weight))],
            Timeouts = MapTimeouts(rule.Timeouts, $"{path}.timeouts", warnings),
            Retry = rule.Retry is { } retry ? MapRetry(retry, $"{path}.retry", warnings) : null,
            CircuitBreaker = rule.CircuitBreaker is { } breaker ? MapCircuitBreaker(breaker, $"{path}.circuitBreaker", warnings) : null,
            RateLimit = rule.RateLimit is { } limit ? MapRateLimit(limit, $"{path}.rateLimit", warnings) : null,
            Fault = rule.Fault is { } fault ? MapFault(fault, $"{path}.fault", warnings) : null,
            Authorization = rule.Authorization is { } authorization ? new ProxyAuthorization { AllowedSources = [.. authorization.AllowFrom] } : null,
        };
    }

    private static RouteMatch MapMatch(Cfg.RouteMatch match) => new()
    {
        Path = match.Path.Type switch
        {
            Cfg.PathMatchType.Exact => new PathMatch(PathMatchType.Exact, match.Path.Value),
            Cfg.PathMatchType.PathPrefix => new PathMatch(PathMatchType.PathPrefix, match.Path.Value),
            Cfg.PathMatchType.RegularExpression => new PathMatch(PathMatchType.RegularExpression, WholeValue(match.Path.Value)),
            var type => throw Unknown(type),
        },
        Method = match.Method,
        Headers = [.. match.Headers.Select(h => new HeaderMatch(h.Name, Value(h.Type, h.Value), StringType(h.Type)))],
        QueryParams = [.. match.QueryParams.Select(q => new QueryParamMatch(q.Name, Value(q.Type, q.Value), StringType(q.Type)))],
    };

    private static string Value(Cfg.StringMatchType type, string value) =>
        type == Cfg.StringMatchType.RegularExpression ? WholeValue(value) : value;

    /// <summary>
    /// A pattern that keeps the config's meaning in the proxy. The config anchors patterns with \A and \z; the proxy
    /// wraps them in ^ and $, and $ also matches before a final line feed, so /admin would match a path of "/admin\n"
    /// (%0A, which ASP.NET Core decodes). Ending the pattern with \z makes the proxy's match the config's.
    /// </summary>
    private static string WholeValue(string pattern) => $@"(?:{pattern})\z";

    private static StringMatchType StringType(Cfg.StringMatchType type) => type switch
    {
        Cfg.StringMatchType.Exact => StringMatchType.Exact,
        Cfg.StringMatchType.RegularExpression => StringMatchType.RegularExpression,
        _ => throw Unknown(type),
    };

    /// <summary>
    /// The config applies a modifier as remove, set, add; the proxy as set, add, remove. They differ only for a header
    /// that is both removed and set or added, where the config's removal only clears the values the header had. So such
    /// a header is not removed here, and if it is only added it is set instead: it ends up with the added value alone,
    /// as in the config.
    /// </summary>
    private static HeaderModifier MapHeaders(Cfg.HeaderModifier headers)
    {
        var removed = headers.Remove.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var set = headers.Set.Select(h => h.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var written = new HashSet<string>(set, StringComparer.OrdinalIgnoreCase);
        written.UnionWith(headers.Add.Select(h => h.Name));
        bool AddReplaces(Cfg.HttpHeader header) => removed.Contains(header.Name) && !set.Contains(header.Name);
        return new HeaderModifier
        {
            Set = [.. headers.Set.Concat(headers.Add.Where(AddReplaces)).Select(h => new HttpHeader(h.Name, h.Value))],
            Add = [.. headers.Add.Where(h => !AddReplaces(h)).Select(h => new HttpHeader(h.Name, h.Value))],
            Remove = [.. headers.Remove.Where(name => !written.Contains(name))],
        };
    }

    private static PathModifier? MapPathModifier(Cfg.PathModifier? modifier) => modifier switch
    {
        null => null,
        { Type: Cfg.PathModifierType.ReplaceFullPath } => new PathModifier(PathModifierType.ReplaceFullPath, modifier.Value),
        { Type: Cfg.PathModifierType.ReplacePrefixMatch } => new PathModifier(PathModifierType.ReplacePrefixMatch, modifier.Value),
        _ => throw Unknown(modifier.Type),
    };

    private static ProxyAction Action(Cfg.RouteAction action) => action switch
    {
        Cfg.RouteAction.Allow => ProxyAction.Allow,
        Cfg.RouteAction.Deny => ProxyAction.Deny,
        _ => throw Unknown(action),
    };

    private static ArgumentOutOfRangeException Unknown<T>(T value)
        where T : struct, Enum =>
        new(typeof(T).Name, value, $"the proxy mapping does not know {typeof(T).Name}.{value}");
}
