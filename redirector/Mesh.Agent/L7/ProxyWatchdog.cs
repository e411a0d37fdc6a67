using System.Net;
using Mesh.Datapath.Programs;
using Mesh.Proxy.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.L7;

/// <summary>
/// Proves several times a second that the node proxy serves (its readiness probe answers 200) and writes a heartbeat into the kernel for each proof. The connect programs
/// divert only while the heartbeat is fresh; when the proxy hangs, or the agent dies (kill -9, a
/// crash) and nobody writes it any more, each service follows its fail mode within
/// <see cref="Timeout"/>: open connects to the service itself, closed fails at once with EPERM.
/// </summary>
internal sealed class ProxyWatchdog : IAsyncDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    /// <summary>How stale the heartbeat may get: three missed probes, so one slow garbage collection does not trip it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(650);

    private readonly DivertDatapath _divert;
    private readonly Uri _probe;
    private readonly ILogger _logger;
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private bool _serving;

    public ProxyWatchdog(DivertDatapath divert, IPEndPoint proxy, ILogger logger)
    {
        _divert = divert;
        _logger = logger;
        _probe = new Uri($"http://{proxy}{ReadinessProbe.Path}");
        _client = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = Interval }) { Timeout = Interval * 2 };
    }

    /// <summary>Probes once (so diversion starts only behind a serving proxy), then keeps probing in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ProbeAsync(cancellationToken);
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }
        _client.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await ProbeAsync(stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task ProbeAsync(CancellationToken cancellation)
    {
        bool serving;
        try
        {
            // Not diverted, so the proxy answers the probe itself: proof that its listener and pipeline work.
            using var response = await _client.GetAsync(_probe, cancellation);
            serving = response.IsSuccessStatusCode;
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
        {
            serving = false;
        }
        if (serving)
        {
            _divert.Heartbeat();
        }
        if (serving != _serving)
        {
            _serving = serving;
            if (serving)
            {
                _logger.LogInformation("Node proxy serves on {Proxy}: connections to services with HTTP policy are diverted to it", _probe.Authority);
            }
            else
            {
                _logger.LogWarning("Node proxy on {Proxy} does not answer: services follow their fail mode until it does", _probe.Authority);
            }
        }
    }
}
