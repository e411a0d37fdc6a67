using System.Net;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>services</c> section, and checks what must hold across services.</summary>
internal sealed class ServicesBinder
{
    public ValueList<ServiceConfig> Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        // Built per file: rules check the names they refer to against this file's services.
        var binder = new ServiceBinder(ServiceDirectory.Scan(node));
        var services = ListValues.Bind(node, path, "- name: catalog", (item, itemPath) => binder.Bind(item, itemPath, errors), errors);

        // A service with a mistake elsewhere still has a name and address worth comparing.
        var compared = services.Select(s => s with { IsValid = true }).ToList();
        ListValues.ReportDuplicates(compared, s => s.Name.Length > 0 ? s.Name : null, StringComparer.Ordinal,
            (name, first) => $"duplicate service name '{name}', first at line {first.Node.Line}; backendRefs and allowFrom refer to services by name, so rename one",
            errors, at: item => ValueOf(item, "name"));
        ListValues.ReportDuplicates(compared, s => s.Address.Equals(ServiceBinder.NoAddress) || s.Port == 0 ? null : NetworkValues.Normalized(s.EndPoint),
            EqualityComparer<IPEndPoint>.Default,
            (endpoint, first) => $"the address and port {endpoint} are already those of the service '{first.Item.Name}' (line {first.Node.Line}); "
                + "a connection can only go to one service, so give one of them another address or port",
            errors, at: item => ValueOf(item, "address"));

        return ValueList.From(services.Select(s => s.Item));
    }

    private static ConfigNode ValueOf(BoundItem<ServiceConfig> item, string key) => (item.Node as MappingNode)?.Find(key)?.Value ?? item.Node;
}
