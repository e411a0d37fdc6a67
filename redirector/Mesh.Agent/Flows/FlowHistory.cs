using System.Threading.Channels;

namespace Mesh.Agent.Flows;

/// <summary>
/// The last <see cref="Capacity"/> flows, and the live feed of new ones for followers. A follower
/// that reads too slowly loses its oldest unread flows rather than slowing the agent.
/// </summary>
internal sealed class FlowHistory
{
    public const int Capacity = 4096;
    private const int FollowerBuffer = 1024;

    private readonly Queue<FlowRecord> _recent = new();
    private readonly List<Channel<FlowRecord>> _followers = [];
    private readonly Lock _lock = new();

    public void Add(FlowRecord flow)
    {
        lock (_lock)
        {
            if (_recent.Count == Capacity)
            {
                _recent.Dequeue();
            }
            _recent.Enqueue(flow);
            foreach (var follower in _followers)
            {
                follower.Writer.TryWrite(flow);
            }
        }
    }

    /// <summary>The flows kept so far, oldest first.</summary>
    public IReadOnlyList<FlowRecord> Recent()
    {
        lock (_lock)
        {
            return [.. _recent];
        }
    }

    /// <summary>The flows kept so far, then each new one until <paramref name="cancellation"/>.</summary>
    public async IAsyncEnumerable<FlowRecord> FollowAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var channel = Channel.CreateBounded<FlowRecord>(new BoundedChannelOptions(FollowerBuffer) { FullMode = BoundedChannelFullMode.DropOldest });
        IReadOnlyList<FlowRecord> backlog;
        lock (_lock)
        {
            backlog = [.. _recent];
            _followers.Add(channel);
        }
        try
        {
            foreach (var flow in backlog)
            {
                yield return flow;
            }
            while (await channel.Reader.WaitToReadAsync(cancellation).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var flow))
                {
                    yield return flow;
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
}
