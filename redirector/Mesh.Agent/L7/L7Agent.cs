using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Mesh.Agent.Hardening;
using Mesh.Agent.L7;
using Mesh.Agent.Workloads;
using Mesh.Config;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Management;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.L7;

/// <summary>
/// The L7 path: runs the node proxy's process (<see cref="ProxyProcess"/>) and diverts, in the kernel, connections to
/// services whose config carries HTTP policy to it. A config edit updates the proxy's routes and the diverted
/// set in place; an edit the proxy refuses leaves both as they were.
/// </summary>
internal sealed class L7Agent : IHostedService, IAsyncDisposable
{
    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly LibBpfLog _libBpfLog;
    private readonly ClientSources _sources;
    private readonly TelemetryOptionsMapper _telemetryOptions;
    private readonly IWorkloadRegistry _workloads;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<L7Agent> _logger;
    private readonly Channel<MeshConfig> _reloads = Channel.CreateUnbounded<MeshConfig>(new UnboundedChannelOptions { SingleReader = true });
    private ProxyProcess? _proxy;
    private DivertDatapath? _divert;
    private ProxyWatchdog? _watchdog;
    private TelemetrySettings? _telemetry;
    private ProxySettings? _proxySettings;
    private Task? _applying;
    private ListenerHandoffServer? _handoff;
    private WorkloadProxyListeners? _workloadListeners;
    private IDisposable? _workloadSubscription;

    public L7Agent(AgentConfig config, AgentOverrides overrides, LibBpfLog libBpfLog, ClientSources sources, TelemetryOptionsMapper telemetryOptions, IWorkloadRegistry workloads, ILoggerFactory loggerFactory)
    {
        _workloads = workloads;
        _config = config;
        _overrides = overrides;
        _libBpfLog = libBpfLog;
        _sources = sources;
        _telemetryOptions = telemetryOptions;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<L7Agent>();
    }

    /// <summary>The diversion's counters, or null before the agent started.</summary>
    public DivertCounterSnapshot? ReadDivertCounters() => _divert?.ReadCounters();

    /// <summary>The diversion as `mesh status` shows it, or null before the agent started.</summary>
    public DivertStatus? DivertStatus() => _divert is { } divert && _proxy is { } proxy
        ? new DivertStatus(divert.ServiceCount(), divert.ReadCounters(), proxy.Pid, proxy.Restarts)
        : null;

    /// <summary>How many listeners the proxy has in the workload's network namespace.</summary>
    public (int Listeners, IReadOnlyList<string> Labels) WorkloadProxyView(string cgroup) => _workloadListeners?.ProxyView(cgroup) ?? (0, []);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var divertOptions = new DivertOptions
        {
            CgroupPath = _overrides.CgroupFor(_config.Current),
            PinDirectory = _overrides.PinDirectoryFor(_config.Current),
            ProxyIpv4 = new IPEndPoint(IPAddress.Loopback, _overrides.ProxyPort),
            ProxyIpv6 = Socket.OSSupportsIPv6 ? IPAddress.IPv6Loopback : null,
            ObjectDirectory = _overrides.ObjectDirectory,
            HeartbeatTimeout = ProxyWatchdog.Timeout,
        };
        var cgroup = divertOptions.CgroupPath ?? Cgroup.FindV2Root();
        if (Cgroup.JoinUnlessWithin(cgroup))
        {
            _logger.LogInformation("Joined cgroup {Cgroup}: the node proxy's sockets must be in the cgroup whose connections it receives", cgroup);
        }
        var cgroupIds = ResolveSources(_config.Current);
        var (proxyUser, proxyUid) = ProxyUser();
        divertOptions.ProxyUid = proxyUid;
        _handoff = new ListenerHandoffServer(proxyUid, _loggerFactory.CreateLogger<ListenerHandoffServer>());
        IPEndPoint[] listen = divertOptions.ProxyIpv6 is { } ipv6
            ? [divertOptions.ProxyIpv4, new IPEndPoint(ipv6, _overrides.ProxyPort)]
            : [divertOptions.ProxyIpv4];
        _proxy = new ProxyProcess(new ProxyStartSettings
        {
            Listen = listen,
            ShutdownTimeout = _config.Current.Agent.DrainTimeout,
            Telemetry = _telemetryOptions.MapTelemetry(_config.Current.Telemetry),
            Limits = _config.Current.Proxy,
            ListenerHandoff = _handoff.Name,
        }, proxyUser, _overrides.Verbose, _loggerFactory.CreateLogger<ProxyProcess>());
        await _proxy.StartAsync(_config.Current.Services, cgroupIds, cancellationToken);
        _telemetry = _config.Current.Telemetry;
        _proxySettings = _config.Current.Proxy;
        // Divert only once the proxy listens and the watchdog saw it serve: a diverted connection must find it there.
        _divert = DivertDatapath.Attach(divertOptions, _libBpfLog, _logger);
        _watchdog = new ProxyWatchdog(_divert, divertOptions.ProxyIpv4, _logger);
        await _watchdog.StartAsync(cancellationToken);
        _divert.SetSourceCgroups(cgroupIds.Values.Distinct());
        _divert.SetServices(DivertedServices(_config.Current));
        _workloadListeners = new WorkloadProxyListeners(_handoff, _divert, _config, _overrides.ProxyPort, _loggerFactory.CreateLogger<WorkloadProxyListeners>());
        _workloadSubscription = _workloads.Subscribe(_workloadListeners);
        _applying = Task.Run(ApplyReloadsAsync, CancellationToken.None);
        _config.Changed += OnConfigChanged;
    }

    /// <summary>
    /// Drains: the proxy counts as down at once, so new connections follow each service's fail mode,
    /// while it finishes the requests it has (for at most agent.drainTimeout); then the programs detach.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _config.Changed -= OnConfigChanged;
        await StopApplyingAsync();
        _workloadSubscription?.Dispose();
        _workloadSubscription = null;
        _workloadListeners?.Dispose();
        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync();
            _watchdog = null;
        }
        _divert?.MarkProxyDown();
        if (_proxy is not null)
        {
            await _proxy.StopAsync(cancellationToken);
        }
        _divert?.Dispose();
        _divert = null;
        _handoff?.Dispose();
        _handoff = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopApplyingAsync();
        _workloadSubscription?.Dispose();
        _workloadListeners?.Dispose();
        _handoff?.Dispose();
        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync();
        }
        _divert?.Dispose();
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }
    }

    /// <summary>Lets the edit being applied finish, and takes no more.</summary>
    private async Task StopApplyingAsync()
    {
        _reloads.Writer.TryComplete();
        if (_applying is not null)
        {
            await _applying;
        }
    }

    /// <summary>
    /// Who the node proxy runs as: the agent's own user when that is not root (the proxy drops the capabilities), else
    /// the default agent user. Never root: the connect programs exempt the proxy's uid from diversion, and every
    /// root client would escape the proxy with it.
    /// </summary>
    private static (string? User, uint Uid) ProxyUser()
    {
        var uid = LeastPrivilege.EffectiveUserId();
        if (uid != 0)
        {
            return (null, uid);
        }
        return LeastPrivilege.FindUser(LeastPrivilege.DefaultUser) is { } user
            ? (LeastPrivilege.DefaultUser, user.Uid)
            : throw new InvalidOperationException($"the node proxy runs as an unprivileged user, and a root agent starts it as '{LeastPrivilege.DefaultUser}', "
                + $"which does not exist: create it (useradd --system {LeastPrivilege.DefaultUser})");
    }

    /// <summary>The address:port of each service with HTTP policy, the connections to divert to the proxy, with its fail mode.</summary>
    internal static IReadOnlyList<DivertedService> DivertedServices(MeshConfig config) =>
        [.. config.Services.Where(s => s.HasHttpPolicy).Select(s => new DivertedService(s.EndPoint, FailOpen: s.FailMode == FailMode.Open))];

    /// <summary>The kernel's id of each source cgroup, by path; logs where the proxy will not do what the config says.</summary>
    private IReadOnlyDictionary<string, ulong> ResolveSources(MeshConfig config)
    {
        var (cgroupIds, warnings) = _sources.Resolve(config);
        foreach (var warning in warnings)
        {
            _logger.LogWarning("{Warning}", warning);
        }
        return cgroupIds;
    }

    /// <summary>
    /// Queues the edit for <see cref="ApplyReloadsAsync"/>. The watcher raises the event on a thread-pool thread; waiting
    /// there for the proxy's answer, which itself needs a pool thread to arrive, stalled reloads for up to a second on
    /// 2 cores while the pool grew.
    /// </summary>
    private void OnConfigChanged(object? sender, MeshConfig config) => _reloads.Writer.TryWrite(config);

    /// <summary>Applies the queued edits one at a time, in order; of several waiting, only the newest.</summary>
    private async Task ApplyReloadsAsync()
    {
        while (await _reloads.Reader.WaitToReadAsync())
        {
            var config = await _reloads.Reader.ReadAsync();
            while (_reloads.Reader.TryRead(out var newer))
            {
                config = newer;
            }
            await ApplyAsync(config);
        }
    }

    private async Task ApplyAsync(MeshConfig config)
    {
        try
        {
            if (_proxy is null || _divert is null)
            {
                return;
            }
            if (config.Telemetry != _telemetry)
            {
                // The exporters are built once, with the proxy host.
                _telemetry = config.Telemetry;
                _logger.LogWarning("The telemetry section changed; restart the agent to apply it (the proxy and the agent keep exporting as they started)");
            }
            if (config.Proxy != _proxySettings)
            {
                // Kestrel takes its limits once, when the proxy's server is built.
                _proxySettings = config.Proxy;
                _logger.LogWarning("The proxy section changed; restart the agent to apply it (the proxy keeps the limits it started with)");
            }
            var cgroupIds = ResolveSources(config);
            // The proxy has a service's routes before its connections are diverted to it.
            if (await _proxy.ApplyAsync(config.Services, cgroupIds, CancellationToken.None) is { } refusal)
            {
                throw new ProxyConfigException([refusal]);
            }
            _divert.SetSourceCgroups(cgroupIds.Values.Distinct());
            _divert.SetServices(DivertedServices(config));
        }
        catch (ProxyConfigException error)
        {
            _logger.LogError("The proxy refused the reloaded config; the previous routes stay in effect: {Error}", error.Message);
        }
        catch (Exception error)
        {
            _logger.LogError(error, "Applying the reloaded config to the L7 path failed; the previous routes stay in effect");
        }
    }
}
