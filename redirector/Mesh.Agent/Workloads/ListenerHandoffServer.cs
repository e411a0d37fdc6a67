using System.Net.Sockets;
using System.Security.Cryptography;
using Mesh.Proxy.Isolation;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Workloads;

/// <summary>
/// The agent's end of <see cref="ListenerHandoff"/>: an abstract Unix socket with a random name, which only the node
/// proxy's user may use (checked by SO_PEERCRED). The agent keeps each workload socket it hands over, so a proxy that
/// restarts gets them all again when it connects.
/// </summary>
internal sealed partial class ListenerHandoffServer : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
    private readonly uint _proxyUid;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<long, (Socket Socket, string? Workload)> _sockets = [];
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
    public long Add(Socket socket, string? workload)
    {
        lock (_lock)
        {
            var id = ++_nextId;
            _sockets[id] = (socket, workload);
            Send(new ListenerHandoffMessage(id, workload, Added: true), socket);
            return id;
        }
    }

    /// <summary>Tells the proxy to stop serving the socket, and closes the agent's copy.</summary>
    public void Remove(long id)
    {
        lock (_lock)
        {
            if (_sockets.Remove(id, out var entry))
            {
                Send(new ListenerHandoffMessage(id, entry.Workload, Added: false), null);
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
            foreach (var (socket, _) in _sockets.Values)
            {
                socket.Dispose();
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
                foreach (var (id, (socket, workload)) in _sockets)
                {
                    Send(new ListenerHandoffMessage(id, workload, Added: true), socket);
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
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "A process of uid {Uid} asked for the workload listeners; only the node proxy's user may")]
    private static partial void LogRefused(ILogger logger, uint uid);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "The node proxy left the listener handoff ({Reason}); it gets the listeners again when it restarts")]
    private static partial void LogProxyGone(ILogger logger, string reason);
}
