using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Flows;

/// <summary>
/// Reads the pinned flow_events ring buffer on a thread of its own and hands each event to
/// <c>onEvent</c>, in the order the kernel wrote them. The ring buffer has one consumer: the agent.
/// `mesh flows` asks the agent, never the map, so two readers never split the events.
/// </summary>
public sealed unsafe class FlowEventReader : IDisposable
{
    private const int PollTimeoutMs = 100;
    private const int Interrupted = -4; // EINTR: a signal arrived while polling; poll again

    private readonly BpfMap _ring;
    private readonly Action<FlowEvent> _onEvent;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private GCHandle _self;
    private IntPtr _ringBuffer;

    private FlowEventReader(string pinDirectory, Action<FlowEvent> onEvent, ILogger logger)
    {
        _onEvent = onEvent;
        _logger = logger;
        _ring = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.FlowEvents));
        _self = GCHandle.Alloc(this);
        _ringBuffer = LibBpf.RingBufferNew(_ring.Fd, &OnSample, GCHandle.ToIntPtr(_self), IntPtr.Zero);
        if (_ringBuffer == IntPtr.Zero)
        {
            var errno = Marshal.GetLastPInvokeError();
            _self.Free();
            _ring.Dispose();
            throw new BpfException($"opening the ring buffer {MapNames.FlowEvents}", errno);
        }
        _thread = new Thread(Poll) { IsBackground = true, Name = "mesh flow events" };
        _thread.Start();
    }

    /// <summary>Starts reading the ring buffer a datapath pinned under <paramref name="pinDirectory"/>.</summary>
    public static FlowEventReader Start(string pinDirectory, Action<FlowEvent> onEvent, ILogger logger) => new(pinDirectory, onEvent, logger);

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _thread.Join();
        LibBpf.RingBufferFree(_ringBuffer);
        _ringBuffer = IntPtr.Zero;
        _self.Free();
        _ring.Dispose();
        _stop.Dispose();
    }

    private void Poll()
    {
        while (!_stop.IsCancellationRequested)
        {
            var result = LibBpf.RingBufferPoll(_ringBuffer, PollTimeoutMs);
            // The programs wake the reader only once the ring fills up (see flow_send): a poll that timed out
            // still takes what was written meanwhile.
            if (result == 0)
            {
                result = LibBpf.RingBufferConsume(_ringBuffer);
            }
            if (result < 0 && result != Interrupted)
            {
                _logger.LogError("Reading flow events failed (errno {Errno}); no more flow events until the agent restarts", -result);
                return;
            }
        }
    }

    [UnmanagedCallersOnly]
    private static int OnSample(IntPtr context, void* data, nuint size)
    {
        var reader = (FlowEventReader)GCHandle.FromIntPtr(context).Target!;
        if (size < (nuint)sizeof(FlowEvent))
        {
            return 0; // written by a different version of the programs: skip it rather than misread
        }
        try
        {
            reader._onEvent(*(FlowEvent*)data);
        }
        catch (Exception error)
        {
            // An exception must not unwind into libbpf's native frames.
            reader._logger.LogError(error, "Handling a flow event failed");
        }
        return 0;
    }
}
