using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>l4</c> section, checks what must hold across its rules and interfaces, and puts the rules in precedence order.</summary>
internal sealed class L4PolicyBinder
{
    private static readonly (string, XdpMode)[] Modes = [("native", XdpMode.Native), ("generic", XdpMode.Generic), ("auto", XdpMode.Auto)];

    private readonly L4RuleBinder _rule = new();
    private readonly MappingBinder<XdpInterface> _interface;
    private readonly MappingBinder<L4Policy> _policy;

    public L4PolicyBinder()
    {
        _interface = new(
        [
            new("name", (xdp, value, path, errors) =>
                NetworkValues.ReadInterfaceName(value, path, errors) is { } name ? xdp with { Name = name } : xdp, Required: "name: eth0"),
            new("mode", (xdp, value, path, errors) =>
                ScalarValues.ReadWord(value, path, Modes, errors) is { } mode ? xdp with { Mode = mode } : xdp),
        ], new Dictionary<string, string>
        {
            ["xdpMode"] = "write 'mode'",
            ["device"] = "write 'name'",
        });
        _policy = new(
        [
            new("default", (policy, value, path, errors) =>
                ScalarValues.ReadWord(value, path, L4RuleBinder.Actions, errors) is { } action ? policy with { Default = action } : policy),
            new("interfaces", (policy, value, path, errors) => policy with { Interfaces = BindInterfaces(value, path, errors) }),
            new("rules", (policy, value, path, errors) => policy with { Rules = BindRules(value, path, errors) }),
        ], new Dictionary<string, string>
        {
            ["defaultAction"] = "write 'default: allow' or 'default: deny'",
        });
    }

    public L4Policy Bind(ConfigNode node, string path, ConfigErrorList errors) => _policy.Bind(node, new L4Policy(), path, errors);

    private ValueList<XdpInterface> BindInterfaces(ConfigNode node, string path, ConfigErrorList errors)
    {
        var interfaces = ListValues.Bind(node, path, "- name: eth0", (item, itemPath) => _interface.Bind(item, new XdpInterface(""), itemPath, errors), errors);
        // An interface with a mistake in its mode still has a name worth comparing.
        ListValues.ReportDuplicates(interfaces.Select(i => i with { IsValid = true }), i => i.Name.Length > 0 ? i.Name : null, StringComparer.Ordinal,
            (name, first) => $"duplicate interface '{name}' in '{path}', first at line {first.Node.Line}; the filter attaches once per interface, so list it once",
            errors, at: item => ValueOf(item, "name"));
        return ValueList.From(interfaces.Select(i => i.Item));
    }

    private ValueList<L4Rule> BindRules(ConfigNode node, string path, ConfigErrorList errors)
    {
        var fileOrder = 0;
        var rules = ListValues.Bind(node, path, "- { action: deny, protocol: tcp, ports: 23 }",
            (item, itemPath) => _rule.Bind(item, itemPath, ++fileOrder, errors), errors);

        if (rules.Count > L4Policy.MaxRules)
        {
            errors.Add(rules[L4Policy.MaxRules].Node, $"'{path}' has {rules.Count} rules, but the kernel's filter holds at most {L4Policy.MaxRules} (the size of its rule map), "
                + $"and this is rule {L4Policy.MaxRules + 1}; merge rules with wider CIDRs or port ranges, or remove some");
        }
        // A rule with a mistake elsewhere still has a name worth comparing.
        ListValues.ReportDuplicates(rules.Select(r => r with { IsValid = true }), r => r.Name, StringComparer.Ordinal,
            (name, first) => $"duplicate rule name '{name}' in '{path}', first at line {first.Node.Line}; rule names are unique"
                + (name.StartsWith("rule-", StringComparison.Ordinal) ? " (a rule without 'name' is called rule-<its place in the list>)" : "") + ", so rename one",
            errors, at: item => ValueOf(item, "name"));

        return L4RulePrecedence.Order(rules.Select(r => r.Item));
    }

    private static ConfigNode ValueOf<T>(BoundItem<T> item, string key) => (item.Node as MappingNode)?.Find(key)?.Value ?? item.Node;
}
