using Mesh.Config;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Programs;

/// <summary>
/// The L3/L4 policy while it is attached: the XDP filter on the configured interfaces, and the
/// connect/sendmsg hooks on the workload cgroup. <see cref="Apply"/> installs a policy without a
/// window: the new rules go into the idle generation of the maps, one write makes it the active
/// one, then a sweep cuts established local connections the new rules deny. Disposing detaches
/// everything and unpins the maps.
/// </summary>
public sealed class L4Datapath : IDisposable
{
    public const string XdpProgram = "xdp_filter";
    public const string SweepProgram = "local_sweep";
    private const int NoSuchDevice = 19; // ENODEV: the interface does not exist, in no mode
    public static readonly IReadOnlyList<string> SocketPrograms = ["local_connect4", "local_connect6", "local_sendmsg4", "local_sendmsg6"];

    private readonly ILogger _logger;
    private readonly PinnedObjectLoader _loader;
    private readonly ResourceStack _resources = new();
    private readonly BpfProgram _xdp;
    private readonly BpfLink _sweep;
    private readonly BpfMap _sources;
    private readonly BpfMap _destinations;
    private readonly BpfMap _rules;
    private readonly BpfMap _generations;
    private readonly BpfMap _active;
    private readonly BpfMap _ruleStats;
    private readonly BpfMap _counters;
    private readonly L4StatsSlots _statsSlots = new();
    private readonly Dictionary<string, XdpAttachment> _interfaces = new(StringComparer.Ordinal);
    private readonly Lock _applying = new();
    private IReadOnlyDictionary<string, uint> _slotOfRule = new Dictionary<string, uint>();
    private L4Policy _policy = new();
    private bool _disposed;

    private L4Datapath(L4Options options, string cgroupPath, LibBpfLog libBpfLog, ILogger logger)
    {
        _logger = logger;
        CgroupPath = cgroupPath;
        using var cgroup = Cgroup.Open(cgroupPath);
        _loader = new PinnedObjectLoader(options.PinDirectory, options.ObjectDirectory, MapNames.L4, libBpfLog, logger);
        try
        {
            var xdpObject = _resources.Push(_loader.LoadReusingPins(EmbeddedPrograms.XdpFilter));
            var localObject = _resources.Push(_loader.Load(EmbeddedPrograms.LocalPolicy));
            _xdp = _resources.Push(xdpObject.Program(XdpProgram));
            _sources = _resources.Push(xdpObject.Map(MapNames.L4Sources));
            _destinations = _resources.Push(xdpObject.Map(MapNames.L4Destinations));
            _rules = _resources.Push(xdpObject.Map(MapNames.L4Rules));
            _generations = _resources.Push(xdpObject.Map(MapNames.L4Generations));
            _active = _resources.Push(xdpObject.Map(MapNames.L4Active));
            _ruleStats = _resources.Push(xdpObject.Map(MapNames.L4RuleStats));
            _counters = _resources.Push(xdpObject.Map(MapNames.L4Counters));
            SetSweptCgroup(cgroupPath);
            using (var sweepProgram = localObject.Program(SweepProgram))
            {
                _sweep = _resources.Push(sweepProgram.AttachIterator());
            }
            foreach (var name in SocketPrograms)
            {
                using var program = localObject.Program(name);
                _resources.Push(PinnedCgroupLink.AttachOrReplace(program, cgroup, options.PinDirectory, logger));
            }
            _logger.LogInformation("L4 policy attached to cgroup {Cgroup} (connect, sendmsg), maps pinned in {PinDirectory}", cgroupPath, options.PinDirectory);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string CgroupPath { get; }

    /// <summary>The interfaces the XDP filter is attached to, with the mode each got.</summary>
    public IReadOnlyList<XdpAttachment> Interfaces
    {
        get
        {
            lock (_applying)
            {
                return [.. _interfaces.Values];
            }
        }
    }

    /// <summary>The XDP program, e.g. to judge crafted frames with <see cref="BpfProgram.TestRun"/>.</summary>
    public BpfProgram Xdp => _xdp;

    /// <summary>Loads and attaches with every rule set empty (all allowed); on failure nothing stays attached or pinned.</summary>
    public static L4Datapath Attach(L4Options options, LibBpfLog libBpfLog, ILogger logger) =>
        new(options, options.CgroupPath ?? Cgroup.FindV2Root(), libBpfLog, logger);

    /// <summary>
    /// Makes <paramref name="policy"/> the one in force: rules in place without a window, then
    /// established connections the rules now deny are cut, then the XDP interfaces are reconciled.
    /// </summary>
    public void Apply(L4Policy policy)
    {
        lock (_applying)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var active = ActiveState();
            var next = (active.Generation + 1) % L4Limits.Generations;
            _slotOfRule = _statsSlots.Assign([.. policy.Rules.Select(rule => rule.Name)], slot => _ruleStats.WritePerCpu(slot, default(L4RuleStats)));
            var tables = L4RuleTables.Compile(policy, next, rule => _slotOfRule[rule.Name]);
            // The idle generation still holds the prefixes of the one before last, which no packet uses any more;
            // the generation being replaced stays whole, so a packet judged while the switch happens finds it all.
            RemoveGeneration(next);
            WriteGeneration(next, tables);
            _active.Update(0u, active with { Generation = next });
            _policy = policy;
            SweepThisNamespace();
            ReconcileInterfaces(policy.Interfaces);
            _logger.LogInformation("L4 policy in force: {Rules} rule(s), default {Default}, XDP on {Interfaces}",
                policy.Rules.Count, policy.Default, _interfaces.Count == 0 ? "no interface" : string.Join(", ", _interfaces.Values.Select(Describe)));
        }
    }

    /// <summary>
    /// Cuts the established connections of the workload cgroup that the rules in force deny, in the network namespace
    /// of the calling thread: a TCP iterator walks the sockets of the namespace it is created in, so the agent calls
    /// this from a thread inside each workload's namespace too (<see cref="Apply"/> sweeps the agent's own).
    /// </summary>
    public void SweepThisNamespace()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _sweep.RunIterator(SweepProgram);
    }

    /// <summary>The rule in force whose counters are in <paramref name="slot"/>: its name, "(default)", or null.</summary>
    public string? RuleNameOfSlot(uint slot)
    {
        if (slot == L4Limits.DefaultStatsSlot)
        {
            return "(default)";
        }
        lock (_applying)
        {
            return _slotOfRule.FirstOrDefault(pair => pair.Value == slot).Key;
        }
    }

    /// <summary>The counters of each rule in force, in precedence order, and of the default.</summary>
    public L4StatsSnapshot ReadStats()
    {
        lock (_applying)
        {
            var rules = _policy.Rules.Select(rule => new L4RuleStatsEntry(rule, SumOverCpus(_slotOfRule[rule.Name]))).ToList();
            return new L4StatsSnapshot(rules, SumOverCpus(L4Limits.DefaultStatsSlot), _policy.Default == L4Action.Deny,
                NotIp: _counters.SumPerCpu((uint)L4Counter.XdpNotIp),
                Malformed: _counters.SumPerCpu((uint)L4Counter.XdpMalformed),
                Fragments: _counters.SumPerCpu((uint)L4Counter.XdpFragments));
        }
    }

    public void Dispose()
    {
        lock (_applying)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            foreach (var attachment in _interfaces.Values)
            {
                attachment.Dispose();
            }
            _interfaces.Clear();
            _resources.Dispose();
            _loader.RemovePins();
        }
    }

    private L4RuleStats SumOverCpus(uint slot) => _ruleStats.ReadPerCpu<uint, L4RuleStats>(slot).Aggregate(default(L4RuleStats), (sum, cpu) => sum + cpu);

    private L4Active ActiveState() => _active.TryLookup(0u, out L4Active active) ? active : default;

    private void SetSweptCgroup(string cgroupPath) =>
        _active.Update(0u, ActiveState() with { CgroupId = Cgroup.IdOf(cgroupPath), CgroupLevel = (uint)Cgroup.LevelOf(cgroupPath) });

    private void WriteGeneration(uint generation, L4RuleTables tables)
    {
        for (var rule = 0; rule < tables.Rules.Count; rule++)
        {
            _rules.Update((uint)(generation * L4Limits.MaxRules + rule), tables.Rules[rule]);
        }
        foreach (var (key, set) in tables.Sources)
        {
            _sources.Update(key, set);
        }
        foreach (var (key, set) in tables.Destinations)
        {
            _destinations.Update(key, set);
        }
        _generations.Update(generation, tables.Generation);
    }

    /// <summary>Deletes the prefixes of a generation no packet is judged by.</summary>
    private void RemoveGeneration(uint generation)
    {
        foreach (var trie in new[] { _sources, _destinations })
        {
            foreach (var key in trie.Keys<L4PrefixKey>().Where(key => key.Generation == generation))
            {
                trie.Delete(key);
            }
        }
    }

    /// <summary>
    /// Attaches, re-attaches and detaches XDP to match <paramref name="wanted"/>. An interface that
    /// fails keeps what it had (the kernel cannot hold a native and a generic program at once, so a
    /// mode change detaches first and restores on failure); the failures are thrown together at the end, as one
    /// <see cref="InvalidOperationException"/>.
    /// </summary>
    private void ReconcileInterfaces(IReadOnlyList<XdpInterface> wanted)
    {
        foreach (var name in _interfaces.Keys.Where(name => wanted.All(w => w.Name != name)).ToList())
        {
            _interfaces[name].Dispose();
            _interfaces.Remove(name);
            _logger.LogInformation("XDP filter detached from {Interface}", name);
        }
        var failures = new List<BpfException>();
        foreach (var target in wanted)
        {
            _interfaces.TryGetValue(target.Name, out var attached);
            if (attached is not null && Satisfies(attached.Mode, target.Mode))
            {
                continue;
            }
            attached?.Dispose();
            try
            {
                _interfaces[target.Name] = AttachXdp(target);
            }
            catch (BpfException error)
            {
                failures.Add(error);
                _interfaces.Remove(target.Name);
                if (attached is not null)
                {
                    _interfaces[target.Name] = _xdp.AttachToInterface(target.Name, attached.Mode);
                }
            }
        }
        if (failures.Count > 0)
        {
            throw new InvalidOperationException(string.Join("; ", failures.Select(failure => failure.Message)));
        }
    }

    private XdpAttachment AttachXdp(XdpInterface target)
    {
        if (target.Mode != XdpMode.Auto)
        {
            return _xdp.AttachToInterface(target.Name, target.Mode == XdpMode.Native ? XdpFlags.DrvMode : XdpFlags.SkbMode);
        }
        try
        {
            return _xdp.AttachToInterface(target.Name, XdpFlags.DrvMode);
        }
        catch (BpfException error) when (error.Errno != NoSuchDevice)
        {
            _logger.LogWarning("Native XDP is not available on {Interface} ({Error}); using generic XDP", target.Name, error.Message);
            return _xdp.AttachToInterface(target.Name, XdpFlags.SkbMode);
        }
    }

    private static bool Satisfies(XdpFlags attached, XdpMode wanted) => wanted switch
    {
        XdpMode.Native => attached == XdpFlags.DrvMode,
        XdpMode.Generic => attached == XdpFlags.SkbMode,
        _ => true,
    };

    private static string Describe(XdpAttachment attachment) => $"{attachment.InterfaceName} ({ModeName(attachment.Mode)})";

    /// <summary>The mode as the config and `mesh status` name it.</summary>
    public static string ModeName(XdpFlags mode) => mode == XdpFlags.DrvMode ? "native" : "generic";
}

/// <summary>The L4 counters at one moment: per rule (precedence order), the default, and the XDP parser's.</summary>
public sealed record L4StatsSnapshot(IReadOnlyList<L4RuleStatsEntry> Rules, L4RuleStats Default, bool DefaultDenies, ulong NotIp, ulong Malformed, ulong Fragments);

public sealed record L4RuleStatsEntry(L4Rule Rule, L4RuleStats Stats);
