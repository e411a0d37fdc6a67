using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Workloads;

/// <summary>
/// Keeps <see cref="WorkloadRegistry"/> up to date with the workloads below the served cgroup. inotify on the cgroup
/// tree (a new cgroup, a write to cgroup.procs, cgroup.events when a cgroup empties) starts a scan at once; a scan every
/// <see cref="ResyncInterval"/> catches anything inotify missed. A workload is added once its namespace is probed (its
/// cookie and addresses), and removed when its cgroup empties or goes, or its processes move to another namespace. Its
/// addresses are followed (<see cref="NamespaceAddressWatch"/>): a change wakes a scan, which reads them again.
/// </summary>
internal sealed partial class WorkloadWatcher : IHostedService, IAsyncDisposable
{
    /// <summary>
    /// Bounds how late a workload is found when inotify says nothing: inotify watches a new cgroup only once it has
    /// seen it created, so a process that joins at once can go unseen. Two scans (one finding its namespace not ready
    /// yet) stay well under the 1 s a workload may wait.
    /// </summary>
    public static readonly TimeSpan ResyncInterval = TimeSpan.FromMilliseconds(250);

    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly WorkloadRegistry _registry;
    private readonly ILogger<WorkloadWatcher> _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, NamespaceAddressWatch> _addressWatches = new(StringComparer.Ordinal);
    private IReadOnlyList<WorkloadConfig> _declared;
    private FileSystemWatcher? _inotify;
    private Task? _loop;
    private int _disposed;

    public WorkloadWatcher(AgentConfig config, AgentOverrides overrides, WorkloadRegistry registry, ILogger<WorkloadWatcher> logger)
    {
        _config = config;
        _overrides = overrides;
        _registry = registry;
        _logger = logger;
        _declared = config.Current.Workloads;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var served = Path.TrimEndingDirectorySeparator(Path.GetFullPath(_overrides.CgroupFor(_config.Current) ?? Cgroup.FindV2Root()));
        var scanner = new WorkloadScanner(served, NamespaceThread.OwnInode());
        WarnAboutDeclarations(served, _declared);
        _inotify = new FileSystemWatcher(served)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.DirectoryName | NotifyFilters.FileName | NotifyFilters.LastWrite,
        };
        _inotify.Created += (_, _) => Wake();
        _inotify.Deleted += (_, _) => Wake();
        _inotify.Changed += (_, _) => Wake();
        _inotify.Error += (_, error) => LogInotifyError(_logger, error.GetException().Message);
        _inotify.EnableRaisingEvents = true;
        _config.Changed += OnConfigChanged;
        Scan(scanner);
        _loop = Task.Run(() => WatchAsync(scanner, served, _stopping.Token), CancellationToken.None);
        LogWatching(_logger, served);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _config.Changed -= OnConfigChanged;
        _inotify?.Dispose();
        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }
        foreach (var workload in _registry.Current)
        {
            Remove(workload);
        }
    }

    /// <summary>Stops; the host disposes it twice (as itself and as a hosted service), which is harmless.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
        _wake.Dispose();
    }

    private void OnConfigChanged(object? sender, MeshConfig config)
    {
        Volatile.Write(ref _declared, config.Workloads);
        Wake();
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception error) when (error is SemaphoreFullException or ObjectDisposedException)
        {
            // A wake-up is pending already, or the watcher stopped.
        }
    }

    private async Task WatchAsync(WorkloadScanner scanner, string served, CancellationToken stopping)
    {
        var declared = _declared;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(ResyncInterval, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!ReferenceEquals(declared, Volatile.Read(ref _declared)))
            {
                declared = Volatile.Read(ref _declared);
                WarnAboutDeclarations(served, declared);
            }
            Scan(scanner);
        }
    }

    private void Scan(WorkloadScanner scanner)
    {
        try
        {
            var declared = Volatile.Read(ref _declared);
            var candidates = scanner.Scan().ToDictionary(c => c.Cgroup, StringComparer.Ordinal);
            foreach (var workload in _registry.Current)
            {
                // Gone, moved to another namespace, or named differently by a reloaded config: removed (and added anew below).
                if (!candidates.TryGetValue(workload.Cgroup, out var candidate) || candidate.NetnsInode != workload.NetnsInode || workload.Declared != DeclarationOf(declared, workload.Cgroup))
                {
                    Remove(workload);
                    LogRemoved(_logger, workload.Cgroup, workload.NetnsCookie);
                }
                else if (_addressWatches.TryGetValue(workload.Cgroup, out var watch) && watch.TakeChange())
                {
                    ReadAddressesAgain(workload, candidate.Pid);
                }
            }
            var known = _registry.Current.Select(w => w.Cgroup).ToHashSet(StringComparer.Ordinal);
            foreach (var candidate in candidates.Values.Where(c => !known.Contains(c.Cgroup)))
            {
                Add(candidate, DeclarationOf(declared, candidate.Cgroup));
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            LogScanFailed(_logger, error.Message);
        }
    }

    private void Add(WorkloadCandidate candidate, WorkloadConfig? declared)
    {
        try
        {
            var cgroupId = Cgroup.IdOf(candidate.Cgroup);
            if (NamespaceThread.Run(candidate.Pid, ProbeNamespace) is not var (cookie, addresses, watch))
            {
                LogNotReady(_logger, candidate.Cgroup);
                return;
            }
            // The process may have left for another namespace while it was probed: then the next scan sees the new one.
            if (NamespaceThread.InodeOf(candidate.Pid) != candidate.NetnsInode)
            {
                watch.Dispose();
                return;
            }
            var workload = new Workload(candidate.Cgroup, cgroupId, cookie, candidate.NetnsInode, addresses, candidate.Pid, declared);
            _addressWatches.Add(workload.Cgroup, watch);
            watch.Start(Wake);
            _registry.Add(workload);
            LogAdded(_logger, workload.Cgroup, workload.Name ?? "(not in the config)", cookie, string.Join(", ", addresses.AsEnumerable()));
        }
        catch (Exception error) when (error is NamespaceGoneException or Datapath.Interop.BpfException or IOException)
        {
            LogSkipped(_logger, candidate.Cgroup, error.Message);
        }
    }

    /// <summary>Reads the addresses of a workload whose namespace said they changed, through a process of it now.</summary>
    private void ReadAddressesAgain(Workload workload, int pid)
    {
        try
        {
            var addresses = NamespaceThread.Run(pid, () => NetworkNamespace.CurrentCookie() == workload.NetnsCookie ? AddressesHere() : null);
            if (addresses is null || addresses.ToHashSet().SetEquals(workload.Addresses))
            {
                return;
            }
            _registry.UpdateAddresses(workload with { Addresses = addresses });
            LogAddressesChanged(_logger, workload.Cgroup, string.Join(", ", addresses.AsEnumerable()));
        }
        catch (NamespaceGoneException error)
        {
            LogSkipped(_logger, workload.Cgroup, error.Message); // the next scan removes it, or finds its new process
        }
    }

    private void Remove(Workload workload)
    {
        if (_addressWatches.Remove(workload.Cgroup, out var watch))
        {
            watch.Dispose();
        }
        _registry.Remove(workload);
    }

    /// <summary>
    /// Run inside the workload's namespace: its cookie, its addresses besides loopback, and the watch on them (opened
    /// first, so no change after the read is missed); null while its loopback has no 127.0.0.1 (a runtime brings it up
    /// before starting the workload's process), as the proxy could not listen there.
    /// </summary>
    private static (ulong Cookie, IReadOnlyList<IPAddress> Addresses, NamespaceAddressWatch Watch)? ProbeNamespace()
    {
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            try
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }
            catch (SocketException error) when (error.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                return null;
            }
        }
        var watch = NamespaceAddressWatch.OpenHere();
        try
        {
            return (NetworkNamespace.CurrentCookie(), AddressesHere(), watch);
        }
        catch
        {
            watch.Dispose();
            throw;
        }
    }

    /// <summary>Run inside a namespace: its addresses besides loopback and IPv6 link-local ones.</summary>
    private static List<IPAddress> AddressesHere() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(a => a.Address))
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork || !a.IsIPv6LinkLocal)
            .ToList();

    private static WorkloadConfig? DeclarationOf(IReadOnlyList<WorkloadConfig> declared, string cgroup) =>
        declared.FirstOrDefault(w => Path.TrimEndingDirectorySeparator(w.Cgroup) == cgroup);

    /// <summary>A declared cgroup that does not exist, or that the agent does not serve, is served when it appears (below the served cgroup); said once per config.</summary>
    private void WarnAboutDeclarations(string served, IReadOnlyList<WorkloadConfig> declared)
    {
        foreach (var workload in declared)
        {
            var cgroup = Path.TrimEndingDirectorySeparator(workload.Cgroup);
            if (!cgroup.StartsWith(served + "/", StringComparison.Ordinal))
            {
                LogNotServed(_logger, workload.Name, cgroup, served);
            }
            else if (!Directory.Exists(cgroup))
            {
                LogNotYet(_logger, workload.Name, cgroup);
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Watching cgroup {Cgroup} for workloads in their own network namespaces")]
    private static partial void LogWatching(ILogger logger, string cgroup);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Workload {Cgroup} ({Name}) found: network namespace {Cookie}, addresses [{Addresses}]")]
    private static partial void LogAdded(ILogger logger, string cgroup, string name, ulong cookie, string addresses);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Workload {Cgroup} (network namespace {Cookie}) is gone")]
    private static partial void LogRemoved(ILogger logger, string cgroup, ulong cookie);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Workload {Cgroup} skipped for now: {Reason}")]
    private static partial void LogSkipped(ILogger logger, string cgroup, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Debug, Message = "Workload {Cgroup}: its namespace's loopback is not up yet; looking again at the next scan")]
    private static partial void LogNotReady(ILogger logger, string cgroup);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Workload {Cgroup}: addresses now [{Addresses}]")]
    private static partial void LogAddressesChanged(ILogger logger, string cgroup, string addresses);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "workloads[{Name}].cgroup: {Cgroup} does not exist (yet); the workload is served once it does")]
    private static partial void LogNotYet(ILogger logger, string name, string cgroup);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "workloads[{Name}].cgroup: {Cgroup} is not below the served cgroup {Served}, so the agent never serves it")]
    private static partial void LogNotServed(ILogger logger, string name, string cgroup, string served);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Scanning for workloads failed ({Reason}); trying again shortly")]
    private static partial void LogScanFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "inotify on the cgroup tree failed ({Reason}); workloads are still found by the periodic scan")]
    private static partial void LogInotifyError(ILogger logger, string reason);
}
