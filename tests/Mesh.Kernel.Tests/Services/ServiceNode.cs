using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Services;

/// <summary>
/// A child cgroup with the splice and the diversion attached (the translation lives in the diversion's programs),
/// the test process inside, and the service table open. The proxy listener is real but no service here diverts to it.
/// </summary>
internal sealed class ServiceNode : IDisposable
{
    private readonly Socket _proxy;

    private ServiceNode(TimeSpan? heartbeatTimeout)
    {
        Cgroup = SplicedCgroup.Create();
        try
        {
            _proxy = LoopbackPair.Listen(IPAddress.Loopback);
            Divert = Cgroup.AttachDivert((IPEndPoint)_proxy.LocalEndPoint!, heartbeatTimeout);
            Table = ServiceTable.OpenPinned(Cgroup.PinDirectory);
        }
        catch
        {
            _proxy?.Dispose();
            Cgroup.Dispose();
            throw;
        }
    }

    public SplicedCgroup Cgroup { get; }

    public DivertDatapath Divert { get; }

    public ServiceTable Table { get; }

    public Socket Proxy => _proxy;

    public static ServiceNode Create(TimeSpan? heartbeatTimeout = null) => new(heartbeatTimeout);

    public void Set(params BalancedService[] services) => Table.Set(services);

    public void Dispose()
    {
        Table.Dispose();
        _proxy.Dispose();
        Cgroup.Dispose();
    }
}

/// <summary>A TCP listener that accepts until disposed, counting connections and keeping them open for the test.</summary>
internal sealed class CountingEndpoint : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Socket> _accepted = [];
    private readonly ConcurrentBag<EndPoint> _clients = [];
    private int _count;

    public CountingEndpoint(IPAddress address, bool keepOpen = false, int port = 0)
    {
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(new IPEndPoint(address, port));
        _listener.Listen(1024);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync(keepOpen);
    }

    public IPEndPoint EndPoint { get; }

    public int Count => Volatile.Read(ref _count);

    /// <summary>How many of the connections accepted came from <paramref name="client"/> (others, such as health probes, do not count).</summary>
    public int CountFrom(IPAddress client) => _clients.Count(endpoint => ((IPEndPoint)endpoint).Address.Equals(client));

    /// <summary>The connections accepted so far, when kept open.</summary>
    public IReadOnlyList<Socket> Accepted
    {
        get
        {
            lock (_accepted)
            {
                return [.. _accepted];
            }
        }
    }

    public WeightedEndpoint Weighted(int weight = 1) => new(EndPoint, weight);

    /// <summary>Stops listening: new connections to the endpoint are refused, as to a killed server.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        lock (_accepted)
        {
            _accepted.ForEach(socket => socket.Dispose());
        }
    }

    private async Task AcceptAsync(bool keepOpen)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _clients.Add(accepted.RemoteEndPoint!);
            Interlocked.Increment(ref _count);
            if (keepOpen)
            {
                lock (_accepted)
                {
                    _accepted.Add(accepted);
                }
            }
            else
            {
                accepted.Dispose();
            }
        }
    }
}
