using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>backendRefs</c>: the services its requests are split between, by relative weight.</summary>
internal sealed class BackendRefBinder
{
    /// <summary>Gateway API's largest weight.</summary>
    public const int MaxWeight = 1_000_000;

    private readonly ServiceDirectory _services;
    private readonly MappingBinder<BackendRef> _backend;

    public BackendRefBinder(ServiceDirectory services)
    {
        _services = services;
        _backend = new(
        [
            new("name", (backend, value, path, errors) =>
                ScalarValues.ReadScalar(value, path, "a service name", "catalog-v1", errors) is { IsNull: false } scalar
                    && services.Find(scalar, path, "requests cannot be sent to it", errors) is not null
                        ? backend with { Name = scalar.Value }
                        : backend,
                Required: "name: catalog-v1"),
            new("weight", (backend, value, path, errors) =>
                ScalarValues.ReadInteger(value, path, 0, MaxWeight, "80", errors,
                    "weights are relative shares of the requests, as in Gateway API; write 0 to send none") is { } weight
                    ? backend with { Weight = weight }
                    : backend),
            // Gateway API needs a Service's port; Mesh knows it from the service, so it is only checked.
            new("port", (backend, value, path, errors) => backend),
        ], new Dictionary<string, string>
        {
            ["namespace"] = "backends are services of this file, which have no namespace; remove it",
            ["kind"] = "backends are always services of this file; remove it",
            ["group"] = "backends are always services of this file; remove it",
            ["filters"] = "Mesh has no per-backend filters; put the filter in the rule's 'filters'",
        });
    }

    public ValueList<BackendRef> Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var items = ListValues.Bind(node, path, "- { name: catalog-v1, weight: 80 }", (item, itemPath) =>
        {
            var backend = _backend.Bind(item, new BackendRef(""), itemPath, errors);
            CheckPort(item, backend.Name, itemPath, _services, errors);
            return backend;
        }, errors);
        ListValues.ReportDuplicates(items, b => b.Name, StringComparer.Ordinal,
            (name, first) => $"'{name}' is already a backend of this rule at line {first.Node.Line}; list each service once, with the sum of the two weights",
            errors, at: item => (item.Node as MappingNode)?.Find("name")?.Value ?? item.Node);

        if (items.Count > 0 && items.All(i => i.IsValid) && items.All(i => i.Item.Weight == 0))
        {
            errors.Add(node, $"every backend in '{path}' has weight 0, so no request could be sent anywhere; give at least one a weight above 0");
        }
        return ValueList.From(items.Select(i => i.Item));
    }

    /// <summary>
    /// Checks a Gateway API <c>port</c> beside a backend's name against that service's port, so a
    /// backendRef copied from an HTTPRoute keeps working, and a wrong one does not pass unnoticed.
    /// </summary>
    public static void CheckPort(ConfigNode backend, string name, string path, ServiceDirectory services, ConfigErrorList errors)
    {
        if (backend is not MappingNode mapping || mapping.Find("port")?.Value is not { } portNode
            || ScalarValues.ReadInteger(portNode, $"{path}.port", 1, 65535, "8080", errors) is not { } port
            || name.Length == 0)
        {
            return;
        }
        if (services.Port(name) is { } servicePort && servicePort != port)
        {
            errors.Add(portNode, $"'{path}.port' is {port}, but the service '{name}' listens on {servicePort}; write {servicePort}, or remove 'port' (requests go to the service's endpoints)");
        }
    }
}
