using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Discovery;

/// <summary>
/// Keeps the running containers of the node's Docker daemon current: a full listing, then the daemon's event stream
/// from just before that listing (so nothing between the two is missed), re-inspecting each container an event names.
/// When the stream breaks or the daemon restarts it lists everything again, so no missed event leaves a stale endpoint.
/// </summary>
internal sealed partial class DockerDiscovery : IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan FirstListingWait = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);
    private static readonly HashSet<string> ContainerActions = ["start", "die", "pause", "unpause", "destroy", "rename"];
    private static readonly HashSet<string> NetworkActions = ["connect", "disconnect"];

    private readonly AgentConfig _config;
    private readonly ILogger<DockerDiscovery> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstListing = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, DiscoveredContainer> _containers = new(StringComparer.Ordinal);
    private Task? _loop;

    public DockerDiscovery(AgentConfig config, ILogger<DockerDiscovery> logger)
    {
        _config = config;
        _logger = logger;
    }

    /// <summary>Starts following the daemon, and waits a little for the first listing so the datapaths start with it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var socket = _config.Current.Discovery.Docker.Socket;
        if (!File.Exists(socket) && !Directory.Exists(socket))
        {
            LogOff(socket);
            return;
        }
        if (Directory.Exists(socket) || !IsSocket(socket))
        {
            LogNotASocket(socket);
            return;
        }
        _loop = Task.Run(() => FollowAsync(socket, _stopping.Token), CancellationToken.None);
        await Task.WhenAny(_firstListing.Task, Task.Delay(FirstListingWait, cancellationToken));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken);
        _loop = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    private async Task FollowAsync(string socket, CancellationToken stopping)
    {
        var retryDelay = TimeSpan.FromMilliseconds(100);
        var failing = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                using var client = new DockerClientBuilder().WithEndpoint(new Uri($"unix://{socket}")).Build();
                // Events are stamped in whole seconds: a second of overlap is re-read, and re-inspection is idempotent.
                var since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds();
                await ListAllAsync(client, stopping);
                if (!_firstListing.Task.IsCompleted)
                {
                    LogFollowing(socket, _containers.Count);
                }
                else if (failing)
                {
                    LogReconnected(socket, _containers.Count);
                }
                failing = false;
                _firstListing.TrySetResult();
                retryDelay = TimeSpan.FromMilliseconds(100);
                await FollowEventsAsync(client, since, stopping);
                LogStreamEnded(socket);
            }
            catch (Exception error) when (IsAccessDenied(error))
            {
                LogNoPermission(socket, Environment.UserName);
                _firstListing.TrySetResult();
                return;
            }
            catch (Exception error) when (!stopping.IsCancellationRequested && error is DockerApiException or HttpRequestException or IOException or TimeoutException or SocketException or OperationCanceledException)
            {
                if (!failing)
                {
                    LogUnreachable(socket, error.Message);
                    failing = true;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await Task.Delay(retryDelay, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            retryDelay = TimeSpan.FromTicks(Math.Min(retryDelay.Ticks * 2, MaxRetryDelay.Ticks));
        }
    }

    private async Task ListAllAsync(IDockerClient client, CancellationToken stopping)
    {
        var listed = await client.Containers.ListContainersAsync(new ContainersListParameters(), stopping);
        _containers.Clear();
        foreach (var container in listed)
        {
            if (await InspectAsync(client, container.ID, stopping) is { } discovered)
            {
                _containers[discovered.Id] = discovered;
            }
        }
        Publish();
    }

    private async Task FollowEventsAsync(IDockerClient client, long since, CancellationToken stopping)
    {
        // MonitorEventsAsync reports through IProgress; a channel keeps the events in order and lets each be inspected.
        var events = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true });
        var reader = Task.Run(async () =>
        {
            await foreach (var message in events.Reader.ReadAllAsync(stopping))
            {
                if (ContainerOf(message) is not { } id)
                {
                    continue;
                }
                if (await InspectAsync(client, id, stopping) is { } discovered)
                {
                    _containers[id] = discovered;
                }
                else
                {
                    _containers.Remove(id);
                }
                Publish();
            }
        }, CancellationToken.None);
        try
        {
            var parameters = new ContainerEventsParameters { Since = since.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            await client.System.MonitorEventsAsync(parameters, new ChannelProgress(events.Writer), stopping);
        }
        finally
        {
            events.Writer.TryComplete();
            await reader.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>The container an event concerns, for the events that can change what a container serves; else null.</summary>
    private static string? ContainerOf(Message message) => message.Type switch
    {
        "container" when ContainerActions.Contains(message.Action) => message.Actor?.ID,
        "network" when NetworkActions.Contains(message.Action) && message.Actor?.Attributes is { } attributes
            && attributes.TryGetValue("container", out var id) => id,
        _ => null,
    };

    /// <summary>The container if it runs and is not paused, with its addresses on every network; null when it serves nothing.</summary>
    private static async Task<DiscoveredContainer?> InspectAsync(IDockerClient client, string id, CancellationToken stopping)
    {
        ContainerInspectResponse inspected;
        try
        {
            inspected = await client.Containers.InspectContainerAsync(id, stopping);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        if (inspected.State is not { Running: true, Paused: false } state)
        {
            return null;
        }
        var addresses = (inspected.NetworkSettings?.Networks?.Values ?? [])
            .SelectMany(network => new[] { network.IPAddress, network.GlobalIPv6Address })
            .Where(text => !string.IsNullOrEmpty(text))
            .Select(IPAddress.Parse)
            .Distinct()
            .ToList();
        var labels = inspected.Config?.Labels is { } configured ? new Dictionary<string, string>(configured) : [];
        return new DiscoveredContainer(inspected.ID, inspected.Name.TrimStart('/'), labels, addresses, (int)state.Pid);
    }

    private void Publish() => _config.ApplyDiscovered([.. _containers.Values.OrderBy(c => c.Id, StringComparer.Ordinal)]);

    private static bool IsAccessDenied(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is UnauthorizedAccessException or SocketException { SocketErrorCode: SocketError.AccessDenied })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A Unix socket cannot be opened as a file; anything that can is not the daemon's socket.</summary>
    private static bool IsSocket(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            return false;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // A socket, or a file this user may not open: connecting to it says which, and why.
            return true;
        }
    }

    /// <summary>Hands each event to the channel on the thread that read it, in order (<see cref="Progress{T}"/> would post it to the pool).</summary>
    private sealed class ChannelProgress(ChannelWriter<Message> writer) : IProgress<Message>
    {
        public void Report(Message value) => writer.TryWrite(value);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Docker discovery off: no Docker socket at {Socket}")]
    private partial void LogOff(string socket);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Docker discovery off: {Socket} is not a Unix socket; set discovery.docker.socket to the daemon's socket")]
    private partial void LogNotASocket(string socket);

    // The Docker socket is root's to give: whoever opens it controls the node. So the agent does not keep it across its
    // drop to an unprivileged user, and the node proxy (which parses every request) never has it.
    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Docker discovery off: user {User} may not open the Docker socket {Socket}; run the agent with --run-as root to discover containers")]
    private partial void LogNoPermission(string socket, string user);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Docker discovery following {Socket}: {Count} running container(s)")]
    private partial void LogFollowing(string socket, int count);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Docker daemon at {Socket} unreachable ({Reason}); retrying, then listing every container again")]
    private partial void LogUnreachable(string socket, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Docker daemon at {Socket} reachable again: {Count} running container(s) listed")]
    private partial void LogReconnected(string socket, int count);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Docker event stream from {Socket} ended; listing every container again")]
    private partial void LogStreamEnded(string socket);
}
