using Mesh.Config;

namespace Mesh.Agent.L4;

/// <summary>L4 rules in one line, as `mesh status` and `mesh policy test` print them.</summary>
public static class L4RuleText
{
    public static string ActionName(L4Action action) => action == L4Action.Deny ? "deny" : "allow";

    /// <summary>E.g. "deny tcp from 10.0.0.0/8 to any port 23".</summary>
    public static string Describe(L4Rule rule)
    {
        var protocol = rule.Protocol == L4Protocol.Any ? "any protocol" : rule.Protocol.ToString().ToLowerInvariant();
        var ports = rule.Ports is { } range ? $" port {range}" : "";
        return $"{ActionName(rule.Action)} {protocol} from {rule.From?.ToString() ?? "any"} to {rule.To?.ToString() ?? "any"}{ports}";
    }
}
