using System.Net;
using System.Net.Sockets;
using Mesh.Agent.Discovery;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Workloads;

/// <summary>
/// Gives the node proxy a listener in each workload's network namespace, on the proxy's loopback port, so the connect
/// hook's rewrite to 127.0.0.1:port (or [::1]:port) lands on the proxy from inside any namespace without a setting in
/// it. Chosen over rewriting to a node address: that would need a route and an address reachable from every
/// namespace, and the proxy could not tell namespaces with overlapping addresses apart; a listener per namespace tells
/// the proxy the workload by where the connection arrived. Only once the proxy listens there does the kernel divert
/// the namespace's connections (divert_netns); until then each service's fail mode applies.
/// </summary>
/// <remarks>
/// The listeners carry the workload's labels (<see cref="WorkloadLabels"/>). Discovery and the cgroup watcher find a
/// container in either order, so the labels are joined again whenever discovery's containers change, and the proxy is
/// told of any that differ: the workload is matched once both are known.
/// A namespace where the listener cannot be opened yet (the port still held by the proxy of an agent that was killed,
/// and draining) is tried again every <see cref="RetryInterval"/> until it is served or gone.
/// </remarks>
internal sealed partial class WorkloadProxyListeners : IWorkloadObserver, IDisposable
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);

    private const int Backlog = 512;

    private readonly ListenerHandoffServer _handoff;
    private readonly DivertDatapath _divert;
    private readonly AgentConfig _config;
    private readonly int _proxyPort;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Served> _served = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Workload> _pending = new(StringComparer.Ordinal);
    private readonly Timer _retry;
    private bool _disposed;

    public WorkloadProxyListeners(ListenerHandoffServer handoff, DivertDatapath divert, AgentConfig config, int proxyPort, ILogger logger)
    {
        _handoff = handoff;
        _divert = divert;
        _config = config;
        _proxyPort = proxyPort;
        _logger = logger;
        _retry = new Timer(_ => RetryPending(), null, RetryInterval, RetryInterval);
        _config.ContainersChanged += OnContainersChanged;
    }

    /// <summary>How many listeners the proxy has in the workload's namespace (0 when it has none), and the labels they carry.</summary>
    public (int Listeners, IReadOnlyList<string> Labels) ProxyView(string cgroup)
    {
        lock (_lock)
        {
            return _served.TryGetValue(cgroup, out var served)
                ? (served.ListenerIds.Count, [.. KeyValues(served.Labels)])
                : (0, []);
        }
    }

    public void Added(Workload workload)
    {
        lock (_lock)
        {
            if (!TryServe(workload, firstTry: true))
            {
                _pending[workload.Cgroup] = workload;
            }
        }
    }

    /// <summary>Nothing to do: the listeners are on the namespace's loopback, which keeps its addresses.</summary>
    public void AddressesChanged(Workload workload)
    {
    }

    public void Removed(Workload workload)
    {
        lock (_lock)
        {
            _pending.Remove(workload.Cgroup);
            if (!_served.Remove(workload.Cgroup, out var served))
            {
                return;
            }
            _divert.StopServingNamespace(served.Workload.NetnsCookie);
            foreach (var id in served.ListenerIds)
            {
                _handoff.Remove(id);
            }
        }
    }

    /// <summary>Stops retrying and relabelling; one under way finishes first, so none runs on a detached datapath.</summary>
    public void Dispose()
    {
        _config.ContainersChanged -= OnContainersChanged;
        lock (_lock)
        {
            _disposed = true;
            _retry.Dispose();
        }
    }

    /// <summary>Tells the proxy the new labels of each served workload whose containers' labels changed.</summary>
    private void OnContainersChanged(object? sender, IReadOnlyList<DiscoveredContainer> containers)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            var byNamespace = WorkloadLabels.ByNamespace(containers, NamespaceThread.InodeOf);
            foreach (var (cgroup, served) in _served.ToList())
            {
                var labels = WorkloadLabels.Of(served.Workload, byNamespace);
                if (WorkloadLabels.Same(labels, served.Labels))
                {
                    continue;
                }
                foreach (var id in served.ListenerIds)
                {
                    _handoff.Relabel(id, labels);
                }
                _served[cgroup] = served with { Labels = labels };
                LogRelabelled(_logger, cgroup, Describe(labels));
            }
        }
    }

    private void RetryPending()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            foreach (var workload in _pending.Values.ToList())
            {
                if (TryServe(workload, firstTry: false))
                {
                    _pending.Remove(workload.Cgroup);
                }
            }
        }
    }

    /// <summary>Opens the listeners, hands them over, then diverts the namespace's connections; false when it could not.</summary>
    private bool TryServe(Workload workload, bool firstTry)
    {
        List<Socket> sockets;
        try
        {
            sockets = NamespaceThread.Run(workload.Pid, () => OpenListeners(workload.NetnsCookie));
        }
        catch (NamespaceGoneException error)
        {
            if (firstTry)
            {
                LogSkipped(_logger, workload.Cgroup, error.Message);
            }
            return false;
        }
        var labels = WorkloadLabels.Of(workload, WorkloadLabels.ByNamespace(_config.Containers, NamespaceThread.InodeOf));
        var ids = sockets.Select(socket => _handoff.Add(socket, workload.Name, labels)).ToList();
        _divert.ServeNamespace(workload.NetnsCookie);
        _served[workload.Cgroup] = new Served(workload, ids, labels);
        LogServed(_logger, workload.Cgroup, ids.Count, _proxyPort, Describe(labels));
        return true;
    }

    /// <summary>Run inside the workload's namespace: 127.0.0.1:port, and [::1]:port where the namespace has IPv6.</summary>
    private List<Socket> OpenListeners(ulong netnsCookie)
    {
        // The pid was the workload's when it was found; a pid used again since would lead into another namespace.
        if (NetworkNamespace.CurrentCookie() != netnsCookie)
        {
            throw new NamespaceGoneException("the workload's process is gone (its pid now belongs to a process in another namespace)");
        }
        var sockets = new List<Socket> { Listen(new IPEndPoint(IPAddress.Loopback, _proxyPort)) };
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                sockets.Add(Listen(new IPEndPoint(IPAddress.IPv6Loopback, _proxyPort)));
            }
            catch (NamespaceGoneException)
            {
                // No IPv6 in this namespace: its IPv4 clients are served all the same.
            }
        }
        return sockets;
    }

    private static Socket Listen(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }
            socket.Bind(endPoint);
            socket.Listen(Backlog);
            return socket;
        }
        catch (SocketException error)
        {
            socket.Dispose();
            throw new NamespaceGoneException($"listening on {endPoint} in the workload's namespace failed: {error.Message}", error);
        }
    }

    private static string Describe(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0 ? "none" : string.Join(", ", KeyValues(labels));

    private static IEnumerable<string> KeyValues(IReadOnlyDictionary<string, string> labels) =>
        labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}");

    private sealed record Served(Workload Workload, IReadOnlyList<long> ListenerIds, IReadOnlyDictionary<string, string> Labels);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Workload {Cgroup}: the node proxy listens in its namespace ({Count} socket(s), port {Port}); labels: {Labels}")]
    private static partial void LogServed(ILogger logger, string cgroup, int count, int port, string labels);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Workload {Cgroup}: labels now {Labels}")]
    private static partial void LogRelabelled(ILogger logger, string cgroup, string labels);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Workload {Cgroup} not served by the proxy yet (its services' fail mode applies; trying again every second): {Reason}")]
    private static partial void LogSkipped(ILogger logger, string cgroup, string reason);
}
