using System.Collections.Frozen;
using System.Net;
using Mesh.Proxy.Configuration;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Routing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;

namespace Mesh.Proxy.Management;

/// <summary>
/// Turns a validated list of services into one config version: the <see cref="ProxySnapshot"/> the request path reads
/// (compiled matches, weighted backends, one resilience pipeline per route) and the YARP routes and clusters.
/// </summary>
/// <remarks>
/// YARP gets one route and one cluster per service, not per mesh route: the cluster is where the connection pool and
/// the upstream protocol live (h2c vs HTTP/1.1 via the cluster's request version), so all mesh routes that send to a
/// service share them, and their ids stay stable across updates, so YARP keeps the pools of unchanged services.
/// </remarks>
internal sealed class ProxyConfigCompiler(RoutePipelineFactory pipelines)
{
    /// <summary>YARP's default activity timeout; raised for a service when a route's request timeout is longer.</summary>
    private static readonly TimeSpan DefaultActivityTimeout = TimeSpan.FromSeconds(100);

    public ProxySnapshot Compile(IReadOnlyList<ProxyService> services, long version)
    {
        var backends = services.ToFrozenDictionary(s => s.Name, s => new BackendService(s), StringComparer.Ordinal);
        var byAddress = new Dictionary<IPEndPoint, CompiledService>();
        foreach (var service in services)
        {
            var routes = service.Routes.Select(r => CompileRoute(service, r, backends, isDefault: false)).ToArray();
            var defaultRoute = service.Default == ProxyAction.Allow
                ? CompileRoute(service, new ProxyRoute { Name = "(default)" }, backends, isDefault: true)
                : null;
            byAddress[Addresses.Normalize(service.Address)] = new CompiledService
            {
                Model = service,
                Routes = routes,
                DefaultRoute = defaultRoute,
                Authorization = service.Authorization is { } authorization
                    ? new AuthorizationRule(authorization.AllowedSources, $"service {service.Name}")
                    : null,
            };
        }

        return new ProxySnapshot
        {
            Version = version,
            Services = services,
            ByAddress = byAddress.ToFrozenDictionary(),
            Backends = backends,
            Sources = new SourceIdentifier(services),
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

    private CompiledRoute CompileRoute(
        ProxyService service,
        ProxyRoute route,
        FrozenDictionary<string, BackendService> backends,
        bool isDefault)
    {
        var id = $"{service.Name}/{route.Name}";
        var (pipeline, budget) = pipelines.Build(id, route);
        var targets = route.Backends.Count == 0
            ? [(backends[service.Name], 1)]
            : route.Backends.Select(b => (backends[b.Service], b.Weight)).ToList();
        return new CompiledRoute
        {
            Id = id,
            ServiceName = service.Name,
            Model = route,
            IsDefault = isDefault,
            Matches = [.. route.Matches.Select(m => new CompiledMatch(m))],
            Authorization = route.Authorization is { } authorization
                ? new AuthorizationRule(authorization.AllowedSources, $"route {id}")
                : null,
            Backends = new WeightedBackendSelector(targets),
            Pipeline = pipeline,
            RetryBudget = budget,
            Mirrors = [.. route.Mirrors.Select(m => new RouteMirror(backends[m.Service], m.Percent))],
        };
    }

    private static Dictionary<string, TimeSpan> LongestRequestTimeoutPerBackend(ProxySnapshot snapshot)
    {
        var longest = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var service in snapshot.ByAddress.Values)
        {
            foreach (var route in service.Routes)
            {
                if (route.Model.Timeouts?.Request is not { } timeout)
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
