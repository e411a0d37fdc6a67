using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>authorization</c>: the services whose connections may use the rule.</summary>
internal sealed class AuthorizationBinder
{
    private readonly MappingBinder<AuthorizationPolicy> _authorization;

    public AuthorizationBinder(ServiceDirectory services)
    {
        _authorization = new(
        [
            new("allowFrom", (policy, value, path, errors) =>
            {
                var names = ListValues.Bind(value, path, "- frontend", (item, itemPath) => ReadClient(item, itemPath, services, errors), errors);
                ListValues.ReportDuplicates(names, n => n, StringComparer.Ordinal,
                    (name, first) => $"'{name}' is already allowed at line {first.Node.Line}; list each service once", errors);
                if (names.Count == 0 && value is not SequenceNode { Items.Count: > 0 })
                {
                    errors.Add(value, $"'{path}' allows no client, so every request would be refused; name the services allowed, such as [frontend], or deny with 'action: deny'");
                }
                return policy with { AllowFrom = names.Values() };
            }, Required: "allowFrom: [frontend]"),
        ], new Dictionary<string, string>
        {
            ["from"] = "write 'allowFrom' with the names of the services allowed",
            ["principals"] = "Mesh recognises clients by service: write 'allowFrom' with service names, and give each service a 'source'",
        });
    }

    public AuthorizationPolicy Bind(ConfigNode node, string path, ConfigErrorList errors) =>
        _authorization.Bind(node, new AuthorizationPolicy(), path, errors);

    private static string? ReadClient(ConfigNode item, string path, ServiceDirectory services, ConfigErrorList errors)
    {
        if (ScalarValues.ReadText(item, path, "a service name", "frontend", errors) is null)
        {
            return null;
        }
        var name = (ScalarNode)item;
        if (services.Find(name, path, "its connections cannot be recognised", errors) is not { } service)
        {
            return null;
        }
        if (!service.HasSource)
        {
            errors.Add(item, $"'{path}' names the service '{name.Value}', which has no 'source', so its connections cannot be recognised; "
                + $"give '{name.Value}' a 'source: {{ cidrs: [...] }}' or 'source: {{ cgroup: /sys/fs/cgroup/...}}'");
            return null;
        }
        return name.Value;
    }
}
