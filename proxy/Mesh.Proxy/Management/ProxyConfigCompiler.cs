using System.Collections.Frozen;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Routing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace Mesh.Proxy.Management;

/// <summary>
/// Compiles the config's services into one config version, as YARP compiles its RouteConfig: the
/// <see cref="ProxySnapshot"/> the request path reads (compiled matches, weighted backends, one resilience pipeline per
/// rule) and the YARP routes and clusters. The config binders have validated the services; what is checked here is
/// only what compiling needs: that named services exist, and that patterns and policies build.
/// </summary>
/// <remarks>
/// YARP gets one route and one cluster per service, not per rule: the cluster is where the connection pool and the
/// upstream protocol live (h2c vs HTTP/1.1 via the cluster's request version), so all rules that send to a service
/// share them, and their ids stay stable across updates, so YARP keeps the pools of unchanged services.
/// </remarks>
internal sealed class ProxyConfigCompiler(RoutePipelineFactory pipelines)
{
    /// <summary>YARP's default activity timeout; raised for a service when a route's request timeout is longer.</summary>
    private static readonly TimeSpan DefaultActivityTimeout = TimeSpan.FromSeconds(100);

    /// <summary>The rule a service with <c>default: allow</c> gives the requests no rule takes: every path, to its own endpoints.</summary>
    private static readonly HttpRouteRule DefaultRule = new() { Name = "(default)" };

    /// <param name="services">Every service of the config, each served at its address (the kernel diverts only those with HTTP policy).</param>
    /// <param name="cgroupIds">The kernel's id of each source cgroup, by path.</param>
    /// <param name="version">The version the snapshot carries.</param>
    public ProxySnapshot Compile(IReadOnlyList<ServiceConfig> services, IReadOnlyDictionary<string, ulong> cgroupIds, long version)
    {
        var errors = new List<string>();
        var backends = new Dictionary<string, BackendService>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            if (!backends.TryAdd(service.Name, new BackendService(service)))
            {
                errors.Add($"services[{service.Name}]: two services have this name");
            }
        }

        var served = new Dictionary<IPEndPoint, CompiledService>();
        foreach (var service in services)
        {
            var names = RouteNames(service.Rules);
            var routes = service.Rules.Select((rule, i) => CompileRoute(service, rule, names[i], backends, errors)!).ToArray();
            var compiled = new CompiledService
            {
                Model = service,
                Routes = routes,
                DefaultRoute = service.Default == RouteAction.Allow ? CompileRoute(service, DefaultRule, DefaultRule.Name!, backends, errors) : null,
            };
            if (!served.TryAdd(Addresses.Normalize(service.EndPoint), compiled))
            {
                errors.Add($"services[{service.Name}]: {service.EndPoint} is already the address of another service");
            }
        }

        if (errors.Count > 0)
        {
            throw new ProxyConfigException(errors);
        }

        return new ProxySnapshot
        {
            Version = version,
            Services = services,
            ByAddress = served.ToFrozenDictionary(),
            Backends = backends.ToFrozenDictionary(StringComparer.Ordinal),
            Sources = new SourceIdentifier(services, cgroupIds),
        };
    }

    public (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) BuildYarpConfig(ProxySnapshot snapshot)
    {
        var longestTimeout = LongestRequestTimeoutPerBackend(snapshot);
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        var order = 0;
        foreach (var backend in snapshot.Backends.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            routes.Add(new RouteConfig
            {
                RouteId = backend.YarpId,
                ClusterId = backend.YarpId,
                // Unique orders keep endpoint routing from seeing ties; BackendEndpointSelectorPolicy leaves one valid.
                Order = order++,
                Match = new Yarp.ReverseProxy.Configuration.RouteMatch { Path = "/{**catch-all}" },
                Metadata = new Dictionary<string, string> { ["mesh.service"] = backend.Name },
            });

            var h2c = backend.Service.Protocol == UpstreamProtocol.H2c;
            var activityTimeout = longestTimeout.TryGetValue(backend.Name, out var longest) && longest >= DefaultActivityTimeout
                ? longest + TimeSpan.FromSeconds(1)
                : DefaultActivityTimeout;
            clusters.Add(new ClusterConfig
            {
                ClusterId = backend.YarpId,
                LoadBalancingPolicy = LoadBalancingPolicies.PowerOfTwoChoices,
                Destinations = backend.Endpoints.ToDictionary(
                    YarpIds.ForDestination,
                    e => new DestinationConfig { Address = Addresses.HttpPrefix(e) },
                    StringComparer.Ordinal),
                HttpRequest = new ForwarderRequestConfig
                {
                    // h2c needs prior knowledge: HTTP/2 exactly, on an http:// address.
                    Version = h2c ? HttpVersion.Version20 : HttpVersion.Version11,
                    VersionPolicy = h2c ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
                    ActivityTimeout = activityTimeout,
                },
                Metadata = new Dictionary<string, string> { ["mesh.service"] = backend.Name },
            });
        }

        return (routes, clusters);
    }

    private CompiledRoute? CompileRoute(
        ServiceConfig service,
        HttpRouteRule rule,
        string name,
        Dictionary<string, BackendService> backends,
        List<string> errors)
    {
        var id = $"{service.Name}/{name}";
        var before = errors.Count;
        BackendService? Named(string backend, string what)
        {
            if (backends.TryGetValue(backend, out var target))
            {
                return target;
            }
            errors.Add($"route {id}: {what} '{backend}' is not a service");
            return null;
        }

        // A rule that names no backends sends to its own service, as a loaded config says.
        var targets = rule.BackendRefs.Count == 0
            ? [(backends[service.Name], 1)]
            : rule.BackendRefs.Select(b => (Named(b.Name, "backendRef")!, b.Weight)).ToList();
        var mirrors = rule.Filters.OfType<RequestMirrorFilter>().Select(m => (Target: Named(m.BackendName, "requestMirror"), m.Percent)).ToList();
        foreach (var source in rule.Authorization?.AllowFrom ?? [])
        {
            Named(source, "allowFrom");
        }

        try
        {
            var matches = rule.Matches.Select(m => new CompiledMatch(m)).ToArray();
            var (pipeline, budget) = pipelines.Build(id, rule);
            return errors.Count > before ? null : new CompiledRoute
            {
                Id = id,
                Name = name,
                ServiceName = service.Name,
                Model = rule,
                IsDefault = ReferenceEquals(rule, DefaultRule),
                Matches = matches,
                RequestHeaders = rule.Filters.OfType<RequestHeaderModifierFilter>().FirstOrDefault()?.Headers,
                ResponseHeaders = rule.Filters.OfType<ResponseHeaderModifierFilter>().FirstOrDefault()?.Headers,
                Rewrite = rule.Filters.OfType<UrlRewriteFilter>().FirstOrDefault(),
                Redirect = rule.Filters.OfType<RequestRedirectFilter>().FirstOrDefault(),
                Authorization = rule.Authorization is { } authorization ? new AuthorizationRule(authorization.AllowFrom, $"route {id}") : null,
                Backends = new WeightedBackendSelector(targets),
                Pipeline = pipeline,
                RetryBudget = budget,
                Mirrors = [.. mirrors.Select(m => new RouteMirror(m.Target!, m.Percent))],
            };
        }
        catch (Exception error) when (error is ArgumentException or NotSupportedException or ValidationException)
        {
            // A pattern .NET's non-backtracking engine refuses, or a policy Polly refuses.
            errors.Add($"route {id}: {error.Message}");
            return null;
        }
    }

    /// <summary>
    /// Each rule's name for logs, metrics and deny reasons: its own, or rule-N after its index (as the config's errors
    /// count rules), made unique against the names the file gives.
    /// </summary>
    private static string[] RouteNames(IReadOnlyList<HttpRouteRule> rules)
    {
        var taken = rules.Select(r => r.Name).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var names = new string[rules.Count];
        for (var i = 0; i < rules.Count; i++)
        {
            var index = i.ToString(CultureInfo.InvariantCulture);
            names[i] = rules[i].Name ?? $"rule-{index}";
            for (var n = 2; rules[i].Name is null && !taken.Add(names[i]); n++)
            {
                names[i] = $"rule-{index}-{n.ToString(CultureInfo.InvariantCulture)}";
            }
        }
        return names;
    }

    private static Dictionary<string, TimeSpan> LongestRequestTimeoutPerBackend(ProxySnapshot snapshot)
    {
        var longest = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var service in snapshot.ByAddress.Values)
        {
            foreach (var route in service.Routes)
            {
                if (route.Model.Timeouts.Request is not { } timeout)
                {
                    continue;
                }

                foreach (var backend in route.Backends.Backends)
                {
                    if (!longest.TryGetValue(backend.Name, out var current) || timeout > current)
                    {
                        longest[backend.Name] = timeout;
                    }
                }
            }
        }

        return longest;
    }
}
