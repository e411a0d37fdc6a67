using System.Net;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one entry of <c>services</c>, its rules, and the defaults that depend on the whole service.</summary>
internal sealed class ServiceBinder
{
    /// <summary>Stands for an address not (validly) given; the address reader never returns it.</summary>
    public static readonly IPAddress NoAddress = IPAddress.Any;

    private static readonly (string, FailMode)[] FailModes = [("closed", FailMode.Closed), ("open", FailMode.Open)];
    private static readonly (string, RouteAction)[] Defaults = [("allow", RouteAction.Allow), ("deny", RouteAction.Deny)];

    private readonly MappingBinder<Draft> _service;

    public ServiceBinder(ServiceDirectory services)
    {
        var source = new ServiceSourceBinder();
        var rule = new RuleBinder(services);
        var endpoint = new EndpointBinder();
        var healthCheck = new HealthCheckBinder();
        _service = new(
        [
            new("name", (d, value, path, errors) =>
                d.With(s => ScalarValues.ReadName(value, path, "catalog", errors) is { } name ? s with { Name = name } : s), Required: "name: catalog"),
            new("address", (d, value, path, errors) =>
                d.With(s => NetworkValues.ReadAddress(value, path, errors) is { } address ? s with { Address = address } : s), Required: "address: 127.0.0.10"),
            new("port", (d, value, path, errors) =>
                d.With(s => ScalarValues.ReadInteger(value, path, 1, 65535, "8080", errors) is { } port ? s with { Port = port } : s), Required: "port: 8080"),
            new("endpoints", (d, value, path, errors) =>
            {
                var weighted = ListValues.Bind(value, path, "- 127.0.0.1:9001", (item, itemPath) => endpoint.Bind(item, itemPath, errors), errors);
                d.Endpoints = [.. weighted.Select(item => new BoundItem<IPEndPoint?>(item.Node, item.Item?.EndPoint, item.IsValid))];
                d.EndpointsNode = value;
                ListValues.ReportDuplicates(d.Endpoints, e => e is null ? null : NetworkValues.Normalized(e), EqualityComparer<IPEndPoint>.Default,
                    (endpoint, first) => $"the endpoint {endpoint} is already listed at line {first.Node.Line}; list each once", errors);
                return d.With(s => s with { Endpoints = d.Endpoints.Values(), Weights = ValueList.From(weighted.Values().Where(w => w.Weight != 1)) });
            }),
            new("selector", (d, value, path, errors) =>
            {
                d.SelectorNode = value;
                return d.With(s => s with { Selector = LabelValues.ReadSelector(value, path, "mesh.service: catalog", errors) });
            }),
            new("protocol", (d, value, path, errors) =>
                d.With(s => ScalarValues.ReadWord(value, path, ServiceProtocol.Words, errors) is { } protocol
                    ? s with { Protocol = protocol.Upstream, Transport = protocol.Transport }
                    : s)),
            new("healthCheck", (d, value, path, errors) => d.With(s => s with { HealthCheck = healthCheck.Bind(value, path, errors) })),
            new("failMode", (d, value, path, errors) =>
                d.With(s => ScalarValues.ReadWord(value, path, FailModes, errors) is { } mode ? s with { FailMode = mode } : s)),
            new("default", (d, value, path, errors) =>
                d.With(s => ScalarValues.ReadWord(value, path, Defaults, errors) is { } action ? s with { Default = action } : s)),
            new("source", (d, value, path, errors) => d.With(s => s with { Source = source.Bind(value, path, errors) })),
            new("rules", (d, value, path, errors) =>
            {
                d.Rules = ListValues.Bind(value, path, "- name: admin-deny", (item, itemPath) => rule.Bind(item, itemPath, errors), errors);
                d.RulesPath = path;
                return d;
            }),
        ], new Dictionary<string, string>
        {
            ["routes"] = "write 'rules', as in a Gateway API HTTPRoute, whose spec.rules can be copied here",
            ["ip"] = "write 'address'",
            ["vip"] = "write 'address', the address clients dial",
            ["targetPort"] = "write 'endpoints' with the address:port the service listens on",
            ["hosts"] = "Mesh finds a service by the address and port clients dial; write 'address' and 'port'",
            ["hostnames"] = "Mesh finds a service by the address and port clients dial; write 'address' and 'port'",
            ["defaultAction"] = "write 'default: allow' or 'default: deny'",
        });
    }

    public ServiceConfig Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var draft = _service.Bind(node, new Draft(), path, errors);
        var service = draft.Service;

        if (draft.Endpoints is not null && draft.SelectorNode is not null)
        {
            errors.Add(draft.SelectorNode, $"service '{service.Name}' has both 'endpoints' and 'selector'; list its endpoints, or select its containers, not both");
        }
        if (draft.Endpoints is not { Count: > 0 } && draft.SelectorNode is null && !service.Address.Equals(NoAddress) && service.Port > 0)
        {
            service = service with { Endpoints = [service.EndPoint] };
        }
        ServiceBalancingChecks.Check(service, draft.EndpointsNode, path, node, errors);

        // A rule with a mistake elsewhere still has a name worth comparing.
        ListValues.ReportDuplicates(draft.Rules.Select(r => r with { IsValid = true }), r => r.Rule.Name, StringComparer.Ordinal,
            (name, first) => $"duplicate rule name '{name}' in '{draft.RulesPath}', first at line {first.Node.Line}; rule names are unique within a service, so rename one",
            errors, at: item => (item.Node as MappingNode)?.Find("name")?.Value ?? item.Node);
        RuleReachability.Check(draft.Rules, draft.RulesPath, errors);

        var rules = draft.Rules.Select(r => r.Item.Rule).Select(r =>
            r.Action == RouteAction.Allow && r.BackendRefs.Count == 0 && !r.Filters.Any(f => f is RequestRedirectFilter)
                ? r with { BackendRefs = [new BackendRef(service.Name)] }
                : r);
        return service with { Rules = ValueList.From(rules) };
    }

    /// <summary>The service being bound, with the lists the checks across keys need.</summary>
    private sealed class Draft
    {
        public ServiceConfig Service { get; private set; } = new() { Name = "", Address = NoAddress, Port = 0 };

        public List<BoundItem<IPEndPoint?>>? Endpoints { get; set; }

        public ConfigNode? EndpointsNode { get; set; }

        public List<BoundItem<BoundRule>> Rules { get; set; } = [];

        public string RulesPath { get; set; } = "";

        public ConfigNode? SelectorNode { get; set; }

        public Draft With(Func<ServiceConfig, ServiceConfig> change)
        {
            Service = change(Service);
            return this;
        }
    }
}
