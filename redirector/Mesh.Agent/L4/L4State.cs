using Mesh.Config;
using Mesh.Datapath.Programs;

namespace Mesh.Agent.L4;

/// <summary>The L4 policy in force as `mesh status` names it: the default, where XDP is attached, and each rule.</summary>
public sealed record L4State(string Default, IReadOnlyList<L4State.Interface> Interfaces, IReadOnlyList<L4State.Rule> Rules)
{
    public sealed record Interface(string Name, string Mode);

    public sealed record Rule(string Name, string Summary);

    public static L4State From(L4Policy policy, L4Datapath datapath) => new(
        L4RuleText.ActionName(policy.Default),
        [.. datapath.Interfaces.Select(attachment => new Interface(attachment.InterfaceName, L4Datapath.ModeName(attachment.Mode)))],
        [.. policy.Rules.Select(rule => new Rule(rule.Name, L4RuleText.Describe(rule)))]);
}
