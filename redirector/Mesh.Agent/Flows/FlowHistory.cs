using System.Threading.Channels;
using Mesh.Datapath.Maps;

namespace Mesh.Agent.Flows;

/// <summary>
/// The last <see cref="Capacity"/> flows, and the live feed of new ones for followers. A flow is kept as the kernel
/// sent it, with the names in force then, and resolved only when read: the agent takes an event per new connection on
/// the CPUs those connections run on, so taking one costs a copy, not allocations. A follower that reads too slowly
/// loses its oldest unread flows rather than slowing the agent.
/// </summary>
internal sealed class FlowHistory
{
    public const int Capacity = 4096;
    private const int FollowerBuffer = 1024;

    private readonly KernelFlow[] _recent = new KernelFlow[Capacity];
    private readonly List<Channel<KernelFlow>> _followers = [];
    private readonly Lock _lock = new();
    private int _oldest;
    private int _count;

    public void Add(in FlowEvent flow, FlowNames names)
    {
        var kept = new KernelFlow(flow, names);
        lock (_lock)
        {
            if (_count == Capacity)
            {
                _recent[_oldest] = kept;
                _oldest = (_oldest + 1) % Capacity;
            }
            else
            {
                _recent[(_oldest + _count++) % Capacity] = kept;
            }
            foreach (var follower in _followers)
            {
                follower.Writer.TryWrite(kept);
            }
        }
    }

    /// <summary>The flows kept so far, oldest first.</summary>
    public IReadOnlyList<FlowRecord> Recent() => [.. Snapshot().Select(flow => flow.Resolve())];

    /// <summary>The flows kept so far, then each new one until <paramref name="cancellation"/>.</summary>
    public async IAsyncEnumerable<FlowRecord> FollowAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var channel = Channel.CreateBounded<KernelFlow>(new BoundedChannelOptions(FollowerBuffer) { FullMode = BoundedChannelFullMode.DropOldest });
        KernelFlow[] backlog;
        lock (_lock)
        {
            backlog = SnapshotLocked();
            _followers.Add(channel);
        }
        try
        {
            foreach (var flow in backlog)
            {
                yield return flow.Resolve();
            }
            while (await channel.Reader.WaitToReadAsync(cancellation).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var flow))
                {
                    yield return flow.Resolve();
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _followers.Remove(channel);
            }
        }
    }

    private KernelFlow[] Snapshot()
    {
        lock (_lock)
        {
            return SnapshotLocked();
        }
    }

    private KernelFlow[] SnapshotLocked()
    {
        var flows = new KernelFlow[_count];
        for (var i = 0; i < _count; i++)
        {
            flows[i] = _recent[(_oldest + i) % Capacity];
        }
        return flows;
    }

    /// <summary>A flow event as the kernel sent it, and the names to resolve it with.</summary>
    private readonly struct KernelFlow(FlowEvent flow, FlowNames names)
    {
        public FlowRecord Resolve() => names.Resolve(flow);
    }
}
