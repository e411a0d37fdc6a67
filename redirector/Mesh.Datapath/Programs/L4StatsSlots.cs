using Mesh.Datapath.Maps;

namespace Mesh.Datapath.Programs;

/// <summary>
/// Gives each L4 rule, by name, a slot of l4_rule_stats that it keeps across reloads, so its
/// counters keep counting when other rules are added, removed or reordered around it.
/// </summary>
internal sealed class L4StatsSlots
{
    private readonly Dictionary<string, uint> _slotOfRule = new(StringComparer.Ordinal);

    /// <summary>Slots for exactly <paramref name="ruleNames"/>; <paramref name="reset"/> is called for each slot given to a new name.</summary>
    public IReadOnlyDictionary<string, uint> Assign(IReadOnlyCollection<string> ruleNames, Action<uint> reset)
    {
        foreach (var gone in _slotOfRule.Keys.Except(ruleNames).ToList())
        {
            _slotOfRule.Remove(gone);
        }
        var free = new Queue<uint>(Enumerable.Range(0, L4Limits.MaxRules).Select(slot => (uint)slot).Except(_slotOfRule.Values));
        foreach (var name in ruleNames.Where(name => !_slotOfRule.ContainsKey(name)))
        {
            var slot = free.Dequeue();
            reset(slot);
            _slotOfRule[name] = slot;
        }
        return new Dictionary<string, uint>(_slotOfRule);
    }
}
