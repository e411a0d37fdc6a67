using System.Net.NetworkInformation;
using Mesh.Agent.Workloads;
using Mesh.Config;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Splice;

/// <summary>
/// Keeps the kernel splice attached for the life of the agent, in step with the config file
/// (splice on/off is applied in place) and with the node's addresses.
/// </summary>
internal sealed class SpliceAgent : IHostedService, IDisposable
{
    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly ILogger<SpliceAgent> _logger;
    private readonly LibBpfLog _libBpfLog;
    private readonly IWorkloadRegistry _workloads;
    private SpliceDatapath? _datapath;
    private IDisposable? _workloadSubscription;
    private DateTimeOffset _startedAt;

    public SpliceAgent(AgentConfig config, AgentOverrides overrides, LibBpfLog libBpfLog, IWorkloadRegistry workloads, IHostApplicationLifetime lifetime, ILogger<SpliceAgent> logger)
    {
        _config = config;
        _workloads = workloads;
        _overrides = overrides;
        _libBpfLog = libBpfLog;
        _logger = logger;
        // The state file tells `mesh status` (and scripts waiting for the agent) that it is ready,
        // so it is written once every part of the agent has started, not just the splice.
        lifetime.ApplicationStarted.Register(() => WriteState(_datapath!.Options.Enabled));
    }

    /// <summary>What the agent attached where, as last written to the state file; null until it has started.</summary>
    public AgentState? State { get; private set; }

    /// <summary>Sockets in the sockhash now (0 before the agent started).</summary>
    public int SplicedSocketCount() => _datapath?.SpliceSocketCount() ?? 0;

    /// <summary>The splice counters, or null before the agent started.</summary>
    public SpliceCounterSnapshot? ReadCounters() => _datapath?.ReadCounters();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _startedAt = DateTimeOffset.UtcNow;
        var options = SpliceOptionsFor(_config.Current);
        _datapath = SpliceDatapath.Attach(options, _libBpfLog, _logger);
        RefreshNodeAddresses();
        _workloadSubscription = _workloads.Subscribe(new WorkloadSplice(_datapath));
        NetworkChange.NetworkAddressChanged += OnNetworkAddressChanged;
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
        NetworkChange.NetworkAddressChanged -= OnNetworkAddressChanged;
        _workloadSubscription?.Dispose();
        _workloadSubscription = null;
        if (_datapath is not null)
        {
            AgentState.Delete(_datapath.Options.PinDirectory);
            _datapath.Dispose();
            _datapath = null;
        }
    }

    private SpliceOptions SpliceOptionsFor(MeshConfig config) => new()
    {
        CgroupPath = _overrides.CgroupFor(config),
        PinDirectory = _overrides.PinDirectoryFor(config),
        Enabled = config.Splice && !_overrides.NoSplice,
        ObjectDirectory = _overrides.ObjectDirectory,
    };

    private void OnConfigChanged(object? sender, MeshConfig config)
    {
        // Runs on the watcher's thread, where an escaping exception would end the process.
        try
        {
            var datapath = _datapath;
            if (datapath is null)
            {
                return;
            }
            var wanted = SpliceOptionsFor(config);
            if (wanted.CgroupPath != datapath.Options.CgroupPath || wanted.PinDirectory != datapath.Options.PinDirectory)
            {
                _logger.LogWarning("agent.cgroup and agent.bpfPinDir changes take effect when the agent restarts");
            }
            datapath.SetEnabled(wanted.Enabled);
            WriteState(wanted.Enabled);
        }
        catch (Exception error)
        {
            _logger.LogError(error, "Applying the reloaded config failed; the previous settings stay in effect");
        }
    }

    private void WriteState(bool spliceEnabled)
    {
        var datapath = _datapath!;
        State = new AgentState(Environment.ProcessId, datapath.CgroupPath, datapath.Options.PinDirectory, spliceEnabled, _config.Description, _startedAt);
        State.Write();
    }

    private void OnNetworkAddressChanged(object? sender, EventArgs e) => RefreshNodeAddresses();

    private void RefreshNodeAddresses()
    {
        var addresses = NodeAddresses.Current();
        _datapath?.SetNodeAddresses(addresses);
        _logger.LogDebug("Node addresses: {Addresses}", string.Join(", ", addresses));
    }
}
