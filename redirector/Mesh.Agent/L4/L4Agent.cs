using Mesh.Agent.Workloads;
using Mesh.Config;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.L4;

/// <summary>
/// Keeps the L3/L4 policy of the config in force: the XDP filter on the configured interfaces and
/// the connect/sendmsg hooks on the workload cgroup. It starts before the L7 agent so that its
/// connect programs run before the diversion's and judge the address the application dialled.
/// The hooks stay attached even with no rules (they then allow everything at the cost of one map
/// lookup per connect), so rules added by a reload keep that order. After each policy change the sweep that cuts
/// denied connections runs in the agent's network namespace and in each served workload's.
/// </summary>
internal sealed class L4Agent : IHostedService, IDisposable
{
    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly LibBpfLog _libBpfLog;
    private readonly IWorkloadRegistry _workloads;
    private readonly ILogger<L4Agent> _logger;
    private L4Datapath? _datapath;
    private volatile L4State? _state;

    public L4Agent(AgentConfig config, AgentOverrides overrides, LibBpfLog libBpfLog, IWorkloadRegistry workloads, ILogger<L4Agent> logger)
    {
        _config = config;
        _overrides = overrides;
        _libBpfLog = libBpfLog;
        _workloads = workloads;
        _logger = logger;
    }

    /// <summary>The name of the rule whose counters are in <paramref name="slot"/>, "(default)" for the default's, null if none.</summary>
    public string? RuleNameOfSlot(uint slot) => _datapath?.RuleNameOfSlot(slot);

    /// <summary>The counters of the rules in force, or null before the agent started.</summary>
    public L4StatsSnapshot? ReadStats() => _datapath?.ReadStats();

    /// <summary>The policy in force as `mesh status` shows it, with each rule's counters; null before the agent started.</summary>
    public L4Status? Status()
    {
        if (_datapath is not { } datapath || _state is not { } state || datapath.ReadStats() is not { } stats)
        {
            return null;
        }
        return new L4Status(state, [.. stats.Rules.Select(rule => rule.Stats)], stats.Default, stats.Malformed, stats.Fragments);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _datapath = L4Datapath.Attach(new L4Options
        {
            CgroupPath = _overrides.CgroupFor(_config.Current),
            PinDirectory = _overrides.PinDirectoryFor(_config.Current),
            ObjectDirectory = _overrides.ObjectDirectory,
        }, _libBpfLog, _logger);
        Apply(_datapath, _config.Current.L4);
        _config.Changed += OnConfigChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _datapath?.Dispose();
        _datapath = null;
    }

    private void Apply(L4Datapath datapath, L4Policy policy)
    {
        datapath.Apply(policy);
        _state = L4State.From(policy, datapath);
        SweepWorkloadNamespaces(datapath);
    }

    private void SweepWorkloadNamespaces(L4Datapath datapath)
    {
        foreach (var workload in _workloads.Current.DistinctBy(workload => workload.NetnsInode))
        {
            try
            {
                NamespaceThread.Run(workload.Pid, () =>
                {
                    datapath.SweepThisNamespace();
                    return true;
                });
            }
            catch (NamespaceGoneException gone)
            {
                // The workload is going away: its connections go with it.
                _logger.LogDebug("No L4 sweep in the namespace of workload {Cgroup}: {Reason}", workload.Cgroup, gone.Message);
            }
        }
    }

    private void OnConfigChanged(object? sender, MeshConfig config)
    {
        // Runs on the watcher's thread, where an escaping exception would end the process.
        try
        {
            if (_datapath is { } datapath)
            {
                Apply(datapath, config.L4);
            }
        }
        catch (Exception error)
        {
            _logger.LogError(error, "Applying the reloaded L4 policy failed; the rules in force stay as they were");
        }
    }
}
