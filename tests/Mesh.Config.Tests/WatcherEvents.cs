using System.Threading.Channels;

namespace Mesh.Config.Tests;

/// <summary>Queues what a <see cref="ConfigWatcher"/> raises, so a test can await the next event in order.</summary>
internal sealed class WatcherEvents
{
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();

    public WatcherEvents(ConfigWatcher watcher)
    {
        watcher.Changed += (_, config) => _events.Writer.TryWrite(config);
        watcher.Rejected += (_, errors) => _events.Writer.TryWrite(errors);
    }

    /// <summary>The next event, which must be a <see cref="MeshConfig"/>.</summary>
    public async Task<MeshConfig> NextChangedAsync() => Assert.IsType<MeshConfig>(await NextAsync());

    /// <summary>The next event, which must be a list of errors.</summary>
    public async Task<IReadOnlyList<ConfigError>> NextRejectedAsync() => Assert.IsAssignableFrom<IReadOnlyList<ConfigError>>(await NextAsync());

    /// <summary>Waits long enough for any reload to have happened, then asserts none did.</summary>
    public async Task AssertNoneAsync()
    {
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.False(_events.Reader.TryRead(out var unexpected), $"unexpected event: {unexpected}");
    }

    // Generous, since it only bounds a failing test; delivery time is asserted separately.
    private async Task<object> NextAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            return await _events.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("the watcher raised no event within 5 s");
        }
    }
}
