using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Maps;

/// <summary>
/// The translated services in lb_services and their slot tables in lb_slots, changed in place: a service whose
/// endpoints change gets its new table under its other generation, then one write of its lb_services entry
/// switches every new connection to it. The maps are the only state, so a restarted agent continues from them.
/// </summary>
public sealed class ServiceTable : IDisposable
{
    private const uint Generations = 2;

    private readonly BpfMap _services;
    private readonly BpfMap _slots;
    private readonly BpfMap _counters;

    private ServiceTable(BpfMap services, BpfMap slots, BpfMap counters)
    {
        _services = services;
        _slots = slots;
        _counters = counters;
    }

    /// <summary>Opens the maps the diversion pinned in <paramref name="pinDirectory"/> (it loads them: see DivertDatapath).</summary>
    public static ServiceTable OpenPinned(string pinDirectory)
    {
        var services = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.LbServices));
        try
        {
            var slots = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.LbSlots));
            try
            {
                return new ServiceTable(services, slots, BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.LbCounters)));
            }
            catch
            {
                slots.Dispose();
                throw;
            }
        }
        catch
        {
            services.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Makes <paramref name="services"/> exactly the translated set. A service whose endpoints are unchanged is not
    /// touched; one whose endpoints changed switches to its new table at once, and its open connections stay as they are.
    /// </summary>
    public void Set(IReadOnlyCollection<BalancedService> services)
    {
        var wanted = services.ToDictionary(service => LbServiceKey.From(service.EndPoint, service.Protocol), service => Slots(service));
        var current = Entries();
        foreach (var (key, entry) in current.Where(found => !wanted.ContainsKey(found.Key)))
        {
            _services.Delete(key);
            var first = IndexOf(entry.Id) * Generations + 1;
            for (var id = first; id < first + Generations; id++)
            {
                DeleteSlotsFrom(id, 0);
            }
        }
        var usedIndexes = current.Where(found => wanted.ContainsKey(found.Key)).Select(found => IndexOf(found.Value.Id)).ToHashSet();
        var nextFree = 0u;
        foreach (var (key, slots) in wanted)
        {
            if (current.TryGetValue(key, out var entry))
            {
                if (!ActiveSlotsEqual(entry, slots))
                {
                    var other = IndexOf(entry.Id) * Generations + 1 + entry.Id % Generations;
                    Switch(key, other, slots);
                }
                continue;
            }
            while (usedIndexes.Contains(nextFree))
            {
                nextFree++;
            }
            usedIndexes.Add(nextFree);
            Switch(key, nextFree * Generations + 1, slots);
        }
    }

    /// <summary>The endpoints of the active slot table of each translated service, slot by slot.</summary>
    public IReadOnlyDictionary<LbServiceKey, IReadOnlyList<LbEndpoint>> Read() =>
        Entries().ToDictionary(found => found.Key, found => (IReadOnlyList<LbEndpoint>)ActiveSlots(found.Value));

    public LbCounterSnapshot ReadCounters() => LbCounterSnapshot.Read(_counters);

    /// <summary>Which translated service each lb_service.id (of either generation) belongs to, as flow events name it.</summary>
    public IReadOnlyDictionary<uint, LbServiceKey> ServicesByIndex() =>
        Entries().ToDictionary(found => IndexOf(found.Value.Id), found => found.Key);

    /// <summary>The service's stable index, the same for the ids of both its generations.</summary>
    public static uint IndexOf(uint id) => (id - 1) / Generations;

    public void Dispose()
    {
        _services.Dispose();
        _slots.Dispose();
        _counters.Dispose();
    }

    private Dictionary<LbServiceKey, LbService> Entries() =>
        _services.Keys<LbServiceKey>()
            .Select(key => (Key: key, Found: _services.TryLookup(key, out LbService entry), Entry: entry))
            .Where(found => found.Found)
            .ToDictionary(found => found.Key, found => found.Entry);

    private static IReadOnlyList<LbEndpoint> Slots(BalancedService service) =>
        service.Endpoints.Count == 0
            ? []
            : WeightedSlots.Build(service.Endpoints.Select(endpoint => (LbEndpoint.From(endpoint.EndPoint), endpoint.Weight)).ToList());

    /// <summary>Writes the table under <paramref name="id"/>, removes what an older table left there, then switches.</summary>
    private void Switch(LbServiceKey key, uint id, IReadOnlyList<LbEndpoint> slots)
    {
        for (var slot = 0; slot < slots.Count; slot++)
        {
            _slots.Update(new LbSlotKey { Id = id, Slot = (uint)slot }, slots[slot]);
        }
        DeleteSlotsFrom(id, (uint)slots.Count);
        _services.Update(key, new LbService { Id = id, SlotCount = (uint)slots.Count });
    }

    /// <summary>Slots are contiguous from 0, so a table ends at its first missing slot.</summary>
    private void DeleteSlotsFrom(uint id, uint first)
    {
        for (var slot = first; slot < WeightedSlots.MaxSlots && _slots.Delete(new LbSlotKey { Id = id, Slot = slot }); slot++)
        {
        }
    }

    private bool ActiveSlotsEqual(LbService entry, IReadOnlyList<LbEndpoint> slots) =>
        entry.SlotCount == slots.Count && ActiveSlots(entry).SequenceEqual(slots);

    private List<LbEndpoint> ActiveSlots(LbService entry)
    {
        var slots = new List<LbEndpoint>((int)entry.SlotCount);
        for (var slot = 0u; slot < entry.SlotCount; slot++)
        {
            if (_slots.TryLookup(new LbSlotKey { Id = entry.Id, Slot = slot }, out LbEndpoint endpoint))
            {
                slots.Add(endpoint);
            }
        }
        return slots;
    }
}
