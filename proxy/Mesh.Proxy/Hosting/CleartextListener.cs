using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Proxy.Hosting;

/// <summary>
/// One cleartext listen socket that serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) side by side.
/// </summary>
/// <remarks>
/// Kestrel cannot do both on one cleartext endpoint: with <c>HttpProtocols.Http1AndHttp2</c> and no TLS (so no ALPN)
/// it turns HTTP/2 off and answers an h2c client with HTTP_1_1_REQUIRED. Apps diverted to the proxy speak whichever
/// their service speaks, on the one port the kernel sends them to, so the proxy needs both. This listener owns the
/// real socket and exposes it to Kestrel as two endpoints (lanes): one configured Http1, one Http2. Each accepted
/// connection is peeked at without consuming anything — the 24-byte HTTP/2 connection preface ("PRI * HTTP/2.0...")
/// sends it to the HTTP/2 lane, anything else to the HTTP/1.1 lane — and Kestrel then reads it from its first byte.
/// Connection limits, timeouts and graceful shutdown stay Kestrel's.
/// </remarks>
internal sealed partial class CleartextListener
{
    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private readonly Channel<ConnectionContext> _http1 = Channel.CreateUnbounded<ConnectionContext>();
    private readonly Channel<ConnectionContext> _http2 = Channel.CreateUnbounded<ConnectionContext>();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeSpan _sniffTimeout;
    private readonly Dictionary<long, WorkloadSocket> _workloadSockets = [];
    private IConnectionListener? _socket;
    private IConnectionListenerFactory? _sockets;
    private Task _acceptLoop = Task.CompletedTask;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private int _boundLanes;
    private int _openLanes;

    public CleartextListener(IPEndPoint requested, TimeSpan sniffTimeout)
    {
        Requested = requested;
        _sniffTimeout = sniffTimeout;
    }

    public IPEndPoint Requested { get; }

    /// <summary>The address actually bound (with the real port when <see cref="Requested"/> had port 0).</summary>
    public IPEndPoint? Bound { get; private set; }

    public EndPoint Lane(HttpProtocols protocols) => new LaneEndPoint(this, protocols);

    internal async ValueTask<IConnectionListener> BindLaneAsync(
        HttpProtocols protocols,
        IConnectionListenerFactory sockets,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_socket is null)
            {
                _logger = logger;
                _sockets = sockets;
                _socket = await sockets.BindAsync(Requested, cancellationToken);
                Bound = (IPEndPoint)_socket.EndPoint;
                _acceptLoop = AcceptLoopAsync(_socket, workload: null);
                Log.ListenerBound(_logger, Bound);
            }

            _boundLanes++;
            _openLanes++;
        }
        finally
        {
            _gate.Release();
        }

        return new LaneListener(this, protocols == HttpProtocols.Http2 ? _http2 : _http1);
    }

    /// <summary>
    /// Serves a socket that listens in a workload's network namespace (made there by the agent, which may enter
    /// namespaces) on this listener's lanes; its connections carry <paramref name="workload"/>. Takes the handle.
    /// </summary>
    public async Task AttachAsync(long id, SafeSocketHandle handle, WorkloadListener workload)
    {
        await _gate.WaitAsync();
        try
        {
            if (_sockets is null || _stopping.IsCancellationRequested || _workloadSockets.ContainsKey(id))
            {
                handle.Dispose();
                throw new InvalidOperationException($"workload listener {id}: the proxy is not listening, or has it already");
            }
            // Kestrel's socket transport serves a listening socket by its descriptor (as with ListenHandle), without owning it.
            IConnectionListener socket;
            try
            {
                socket = await _sockets.BindAsync(new FileHandleEndPoint((ulong)handle.DangerousGetHandle(), FileHandleType.Tcp));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            _workloadSockets[id] = new WorkloadSocket(socket, handle, AcceptLoopAsync(socket, workload));
            Log.WorkloadListenerAttached(_logger, id, workload.Name ?? "(unnamed)");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops accepting on a workload's socket and closes it; connections it accepted carry on.</summary>
    public async Task DetachAsync(long id)
    {
        WorkloadSocket? attached;
        await _gate.WaitAsync();
        try
        {
            if (!_workloadSockets.Remove(id, out attached))
            {
                return;
            }
        }
        finally
        {
            _gate.Release();
        }
        await attached.Socket.UnbindAsync();
        await attached.AcceptLoop;
        await attached.DisposeAsync();
    }

    /// <summary>How many workload sockets this listener serves now.</summary>
    public int WorkloadSocketCount
    {
        get
        {
            _gate.Wait();
            try
            {
                return _workloadSockets.Count;
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    private async Task AcceptLoopAsync(IConnectionListener socket, WorkloadListener? workload)
    {
        while (true)
        {
            ConnectionContext? connection;
            try
            {
                connection = await socket.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (connection is null)
            {
                return;
            }

            workload?.Mark(connection);
            _ = DispatchAsync(connection);
        }
    }

    private async Task DispatchAsync(ConnectionContext connection)
    {
        try
        {
            var lane = await SniffAsync(connection.Transport.Input);
            if (lane is null || !lane.Writer.TryWrite(connection))
            {
                await connection.DisposeAsync();
            }
        }
        catch (Exception e)
        {
            Log.SniffFailed(_logger, connection.RemoteEndPoint, e);
            await connection.DisposeAsync();
        }
    }

    // Leaves the input unconsumed: the final AdvanceTo(start) marks nothing examined, so Kestrel's first read returns
    // the same bytes at once.
    private async Task<Channel<ConnectionContext>?> SniffAsync(PipeReader input)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(_sniffTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                // A silent (or slow) client: HTTP/1.1, where Kestrel's timeouts deal with it (keep-alive while it sends
                // nothing, the request headers timeout once it has sent something).
                return _http1;
            }

            var buffer = result.Buffer;
            var verdict = Classify(buffer);
            if (verdict != Verdict.NeedMore)
            {
                input.AdvanceTo(buffer.Start);
                return verdict == Verdict.Http2 ? _http2 : _http1;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start);
                return buffer.IsEmpty ? null : _http1;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static Verdict Classify(ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> head = stackalloc byte[24];
        buffer.Slice(0, length).CopyTo(head);
        if (!head[..length].SequenceEqual(Preface[..length]))
        {
            return Verdict.Http1;
        }

        return length == Preface.Length ? Verdict.Http2 : Verdict.NeedMore;
    }

    private async ValueTask UnbindLaneAsync(Channel<ConnectionContext> lane)
    {
        lane.Writer.TryComplete();
        await _gate.WaitAsync();
        try
        {
            if (--_boundLanes == 0 && _socket is not null)
            {
                _stopping.Cancel();
                await _socket.UnbindAsync();
                await _acceptLoop;
                foreach (var attached in _workloadSockets.Values)
                {
                    await attached.Socket.UnbindAsync();
                    await attached.AcceptLoop;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask DisposeLaneAsync(Channel<ConnectionContext> lane)
    {
        lane.Writer.TryComplete();
        while (lane.Reader.TryRead(out var queued))
        {
            await queued.DisposeAsync();
        }

        await _gate.WaitAsync();
        try
        {
            if (--_openLanes == 0 && _socket is not null)
            {
                await _socket.DisposeAsync();
                _socket = null;
                foreach (var attached in _workloadSockets.Values)
                {
                    await attached.DisposeAsync();
                }
                _workloadSockets.Clear();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A workload's listening socket as Kestrel serves it, and its descriptor, which Kestrel does not close.</summary>
    private sealed record WorkloadSocket(IConnectionListener Socket, SafeSocketHandle Handle, Task AcceptLoop) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Socket.DisposeAsync();
            Handle.Dispose();
        }
    }

    private enum Verdict
    {
        NeedMore,
        Http1,
        Http2,
    }

    /// <summary>What Kestrel binds for one lane of a <see cref="CleartextListener"/>.</summary>
    internal sealed class LaneEndPoint(CleartextListener owner, HttpProtocols protocols) : EndPoint
    {
        public CleartextListener Owner { get; } = owner;

        public HttpProtocols Protocols { get; } = protocols;

        public override string ToString() => (Owner.Bound ?? Owner.Requested).ToString();
    }

    private sealed class LaneListener(CleartextListener owner, Channel<ConnectionContext> lane) : IConnectionListener
    {
        public EndPoint EndPoint => owner.Bound!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                while (await lane.Reader.WaitToReadAsync(cancellationToken))
                {
                    if (lane.Reader.TryRead(out var connection))
                    {
                        return connection;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => owner.UnbindLaneAsync(lane);

        public ValueTask DisposeAsync() => owner.DisposeLaneAsync(lane);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.ListenerBound, Level = LogLevel.Information,
            Message = "Proxy listening on {EndPoint} (HTTP/1.1 and h2c)")]
        public static partial void ListenerBound(ILogger logger, IPEndPoint endPoint);

        [LoggerMessage(EventId = EventIds.WorkloadListenerAttached, Level = LogLevel.Information,
            Message = "Proxy serving workload listener {Id} of workload {Workload}")]
        public static partial void WorkloadListenerAttached(ILogger logger, long id, string workload);

        [LoggerMessage(EventId = EventIds.ConnectionSniffFailed, Level = LogLevel.Debug,
            Message = "Connection from {Remote} closed before its protocol was known")]
        public static partial void SniffFailed(ILogger logger, EndPoint? remote, Exception exception);
    }
}

/// <summary>Binds the lanes of <see cref="CleartextListener"/>s; other endpoints are left to Kestrel's socket transport.</summary>
internal sealed class CleartextListenerFactory(IOptions<SocketTransportOptions> options, ILoggerFactory loggerFactory)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly SocketTransportFactory _sockets = new(options, loggerFactory);
    private readonly ILogger _logger = loggerFactory.CreateLogger<CleartextListener>();

    public bool CanBind(EndPoint endpoint) => endpoint is CleartextListener.LaneEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        endpoint is CleartextListener.LaneEndPoint lane
            ? lane.Owner.BindLaneAsync(lane.Protocols, _sockets, _logger, cancellationToken)
            : throw new NotSupportedException($"{endpoint} is not a mesh proxy listener lane");
}
