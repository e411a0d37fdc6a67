using System.Net.Sockets;
using Mesh.Proxy.Routing;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy.Isolation;

/// <summary>
/// The proxy's end of <see cref="ListenerHandoff"/>: connects to the agent's abstract socket and serves each workload
/// socket it is given, until the agent closes the channel. Runs on a thread of its own, as recvmsg blocks.
/// </summary>
internal sealed partial class WorkloadListenerReceiver : IDisposable
{
    private readonly Socket _channel;
    private readonly MeshProxyHost _host;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly Dictionary<long, WorkloadListener> _workloads = [];

    private WorkloadListenerReceiver(Socket channel, MeshProxyHost host, ILogger logger)
    {
        _channel = channel;
        _host = host;
        _logger = logger;
        _thread = new Thread(Receive) { IsBackground = true, Name = "mesh-workload-listeners" };
    }

    public static WorkloadListenerReceiver Start(string name, MeshProxyHost host, ILogger logger)
    {
        var channel = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            channel.Connect(new UnixDomainSocketEndPoint("\0" + name));
        }
        catch
        {
            channel.Dispose();
            throw;
        }
        var receiver = new WorkloadListenerReceiver(channel, host, logger);
        receiver._thread.Start();
        return receiver;
    }

    public void Dispose()
    {
        // shutdown wakes the thread blocked in recvmsg, where a close would not.
        try
        {
            _channel.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        _thread.Join();
        _channel.Dispose();
    }

    private void Receive()
    {
        while (true)
        {
            (ListenerHandoffMessage Message, SafeSocketHandle? Socket)? next;
            try
            {
                next = ListenerHandoff.Receive(_channel);
            }
            catch (Exception error) when (error is SocketException or System.Text.Json.JsonException)
            {
                Log.Failed(_logger, 0, error.Message);
                return;
            }
            if (next is not { } received)
            {
                return;
            }
            var (message, socket) = received;
            try
            {
                Apply(message, socket);
            }
            catch (Exception error) when (error is InvalidOperationException or SocketException or IOException)
            {
                Log.Failed(_logger, message.Id, error.Message);
            }
        }
    }

    private void Apply(ListenerHandoffMessage message, SafeSocketHandle? socket)
    {
        switch (message.Change)
        {
            case ListenerChange.Added when socket is not null:
                var workload = new WorkloadListener(message.Workload, message.Labels);
                _host.AttachWorkloadListenerAsync(message.Id, socket, workload).GetAwaiter().GetResult();
                _workloads[message.Id] = workload;
                break;
            case ListenerChange.Relabelled:
                socket?.Dispose();
                if (_workloads.TryGetValue(message.Id, out var relabelled))
                {
                    relabelled.Relabel(message.Labels);
                }
                break;
            default:
                socket?.Dispose();
                _workloads.Remove(message.Id);
                _host.DetachWorkloadListenerAsync(message.Id).GetAwaiter().GetResult();
                break;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.WorkloadListenerFailed, Level = LogLevel.Warning,
            Message = "Workload listener {Id} from the agent not served: {Reason}")]
        public static partial void Failed(ILogger logger, long id, string reason);
    }
}
