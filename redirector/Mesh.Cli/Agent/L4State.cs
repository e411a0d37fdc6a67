using System.Text.Json;
using Mesh.Config;
using Mesh.Redirector.Programs;

namespace Mesh.Cli.Agent;

/// <summary>
/// The L4 policy in force, written beside <see cref="AgentState"/> after each change so `mesh status`
/// can name the rules whose counters it reads from the pinned maps, and say where XDP is attached.
/// </summary>
internal sealed record L4State(string Default, IReadOnlyList<L4State.Interface> Interfaces, IReadOnlyList<L4State.Rule> Rules)
{
    public sealed record Interface(string Name, string Mode);

    public sealed record Rule(string Name, string Summary, uint StatsSlot);

    public static L4State From(L4Policy policy, L4Datapath datapath) => new(
        L4RuleText.ActionName(policy.Default),
        [.. datapath.Interfaces.Select(attachment => new Interface(attachment.InterfaceName, L4Datapath.ModeName(attachment.Mode)))],
        [.. policy.Rules.Select(rule => new Rule(rule.Name, L4RuleText.Describe(rule), datapath.StatsSlotOf(rule)))]);

    public static string PathFor(string pinDirectory) => Path.ChangeExtension(AgentState.PathFor(pinDirectory), ".l4.json");

    public void Write(string pinDirectory)
    {
        var path = PathFor(pinDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static L4State? Read(string pinDirectory) =>
        File.Exists(PathFor(pinDirectory)) ? JsonSerializer.Deserialize<L4State>(File.ReadAllText(PathFor(pinDirectory))) : null;

    public static void Delete(string pinDirectory) => File.Delete(PathFor(pinDirectory));
}
