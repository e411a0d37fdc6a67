using System.Net.Sockets;
using System.Security.Cryptography;
using Mesh.Proxy.Isolation;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Workloads;

/// <summary>
/// The agent's end of <see cref="ListenerHandoff"/>: an abstract Unix socket with a random name, which only the node
/// proxy's user may use (checked by SO_PEERCRED). The agent keeps each workload socket it hands over, with the
/// workload's name and labels as they are now, so a proxy that restarts gets them all again when it connects.
/// </summary>
internal sealed partial class ListenerHandoffServer : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
    private readonly uint _proxyUid;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Handed> _sockets = [];
    private readonly Task _accepting;
    private Socket? _proxy;
    private long _nextId;

    public ListenerHandoffServer(uint proxyUid, ILogger logger)
    {
        _proxyUid = proxyUid;
        _logger = logger;
        Name = $"mesh-proxy-listeners-{Convert.ToHexString(RandomNumberGenerator.GetBytes(16))}";
        _listener.Bind(new UnixDomainSocketEndPoint("\0" + Name));
        _listener.Listen(4);
        _accepting = AcceptAsync();
    }

    /// <summary>The abstract socket's name, for <see cref="ProxyStartSettings.ListenerHandoff"/>.</summary>
    public string Name { get; }

    /// <summary>Hands a listening socket to the proxy (now, or when it connects); returns its id.</summary>
    public long Add(Socket socket, string? workload, IReadOnlyDictionary<string, string> labels)
    {
        lock (_lock)
        {
            var id = ++_nextId;
            var handed = new Handed(socket, workload, labels);
            _sockets[id] = handed;
            Send(handed.Message(id, ListenerChange.Added), socket);
            return id;
        }
    }

    /// <summary>Gives the socket's workload new labels, which the proxy identifies its clients by from then on.</summary>
    public void Relabel(long id, IReadOnlyDictionary<string, string> labels)
    {
        lock (_lock)
        {
            if (_sockets.TryGetValue(id, out var handed))
            {
                var relabelled = handed with { Labels = labels };
                _sockets[id] = relabelled;
                Send(relabelled.Message(id, ListenerChange.Relabelled), null);
            }
        }
    }

    /// <summary>Tells the proxy to stop serving the socket, and closes the agent's copy.</summary>
    public void Remove(long id)
    {
        lock (_lock)
        {
            if (_sockets.Remove(id, out var entry))
            {
                Send(new ListenerHandoffMessage(id, ListenerChange.Removed, entry.Workload, new Dictionary<string, string>()), null);
                entry.Socket.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _accepting.Wait();
        lock (_lock)
        {
            _proxy?.Dispose();
            foreach (var handed in _sockets.Values)
            {
                handed.Socket.Dispose();
            }
            _sockets.Clear();
        }
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            Socket peer;
            try
            {
                peer = await _listener.AcceptAsync();
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                return;
            }
            try
            {
                var uid = ListenerHandoff.PeerUid(peer);
                if (uid != _proxyUid)
                {
                    LogRefused(_logger, uid);
                    peer.Dispose();
                    continue;
                }
                peer.Blocking = true;
            }
            catch (SocketException)
            {
                peer.Dispose(); // gone before it was checked
                continue;
            }
            lock (_lock)
            {
                // A proxy that restarted connects anew: the previous connection is the dead one.
                _proxy?.Dispose();
                _proxy = peer;
                foreach (var (id, handed) in _sockets)
                {
                    Send(handed.Message(id, ListenerChange.Added), handed.Socket);
                }
            }
        }
    }

    /// <summary>Sends under the lock; a proxy that is gone gets everything again when its successor connects.</summary>
    private void Send(ListenerHandoffMessage message, Socket? socket)
    {
        if (_proxy is null)
        {
            return;
        }
        try
        {
            ListenerHandoff.Send(_proxy, message, socket?.SafeHandle);
        }
        catch (Exception error) when (error is SocketException or ObjectDisposedException)
        {
            LogProxyGone(_logger, error.Message);
            _proxy.Dispose();
            _proxy = null;
        }
        catch (ArgumentException) when (message.Labels.Count > 0)
        {
            // Labels too large for one message: the workload is still served, known by its name only.
            LogLabelsTooLarge(_logger, message.Id, message.Workload ?? "(unnamed)", message.Labels.Count);
            Send(message with { Labels = new Dictionary<string, string>() }, socket);
        }
    }

    private sealed record Handed(Socket Socket, string? Workload, IReadOnlyDictionary<string, string> Labels)
    {
        public ListenerHandoffMessage Message(long id, ListenerChange change) => new(id, change, Workload, Labels);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "A process of uid {Uid} asked for the workload listeners; only the node proxy's user may")]
    private static partial void LogRefused(ILogger logger, uint uid);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "The node proxy left the listener handoff ({Reason}); it gets the listeners again when it restarts")]
    private static partial void LogProxyGone(ILogger logger, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Workload listener {Id} ({Workload}): its {Count} labels do not fit in one message to the proxy, so no 'source.labels' recognises it")]
    private static partial void LogLabelsTooLarge(ILogger logger, long id, string workload, int count);
}
