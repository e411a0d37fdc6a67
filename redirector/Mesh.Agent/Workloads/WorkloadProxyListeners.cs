using System.Net;
using System.Net.Sockets;
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
internal sealed partial class WorkloadProxyListeners(ListenerHandoffServer handoff, DivertDatapath divert, int proxyPort, ILogger logger) : IWorkloadObserver
{
    private const int Backlog = 512;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Served> _served = new(StringComparer.Ordinal);

    /// <summary>How many listeners the proxy has in the workload's namespace (0 when it has none).</summary>
    public int ListenerCount(string cgroup)
    {
        lock (_lock)
        {
            return _served.TryGetValue(cgroup, out var served) ? served.ListenerIds.Count : 0;
        }
    }

    public void Added(Workload workload)
    {
        List<Socket> sockets;
        try
        {
            sockets = NamespaceThread.Run(workload.Pid, OpenListeners);
        }
        catch (NamespaceGoneException error)
        {
            LogSkipped(logger, workload.Cgroup, error.Message);
            return;
        }
        var ids = sockets.Select(socket => handoff.Add(socket, workload.Name)).ToList();
        divert.ServeNamespace(workload.NetnsCookie);
        lock (_lock)
        {
            _served[workload.Cgroup] = new Served(workload.NetnsCookie, ids);
        }
        LogServed(logger, workload.Cgroup, ids.Count, proxyPort);
    }

    public void Removed(Workload workload)
    {
        Served? served;
        lock (_lock)
        {
            if (!_served.Remove(workload.Cgroup, out served))
            {
                return;
            }
        }
        divert.StopServingNamespace(served.NetnsCookie);
        foreach (var id in served.ListenerIds)
        {
            handoff.Remove(id);
        }
    }

    /// <summary>Run inside the workload's namespace: 127.0.0.1:port, and [::1]:port where the namespace has IPv6.</summary>
    private List<Socket> OpenListeners()
    {
        var sockets = new List<Socket> { Listen(new IPEndPoint(IPAddress.Loopback, proxyPort)) };
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                sockets.Add(Listen(new IPEndPoint(IPAddress.IPv6Loopback, proxyPort)));
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

    private sealed record Served(ulong NetnsCookie, IReadOnlyList<long> ListenerIds);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Workload {Cgroup}: the node proxy listens in its namespace ({Count} socket(s), port {Port})")]
    private static partial void LogServed(ILogger logger, string cgroup, int count, int port);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Workload {Cgroup} not served by the proxy (its services' fail mode applies): {Reason}")]
    private static partial void LogSkipped(ILogger logger, string cgroup, string reason);
}
