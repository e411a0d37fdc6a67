using System.Collections.Concurrent;
using System.Net;
using Mesh.Config;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Services;

/// <summary>
/// Probes every endpoint of the translated services on its own loop, and says when one's health changes: after
/// <see cref="HealthCheck.UnhealthyThreshold"/> failures in a row it is unhealthy, after
/// <see cref="HealthCheck.HealthyThreshold"/> successes in a row healthy again. A new endpoint starts healthy, so a
/// config edit serves at once; a dead one is out after threshold x interval (1 s by default).
/// </summary>
internal sealed partial class EndpointHealthProber : IAsyncDisposable
{
    private readonly EndpointProbe _probe;
    private readonly ILogger<EndpointHealthProber> _logger;
    private readonly ConcurrentDictionary<ProbeTarget, RunningProbe> _probes = new();

    public EndpointHealthProber(EndpointProbe probe, ILogger<EndpointHealthProber> logger)
    {
        _probe = probe;
        _logger = logger;
    }

    /// <summary>Raised on a probe's thread when an endpoint turns healthy or unhealthy.</summary>
    public event Action? HealthChanged;

    /// <summary>Probes exactly <paramref name="targets"/> from now on: new ones start, dropped ones stop, others keep their state.</summary>
    public async Task SetTargetsAsync(IReadOnlyCollection<ProbeTarget> targets)
    {
        var wanted = targets.ToHashSet();
        foreach (var stale in _probes.Keys.Where(target => !wanted.Contains(target)).ToList())
        {
            if (_probes.TryRemove(stale, out var probe))
            {
                await probe.DisposeAsync();
            }
        }
        foreach (var target in wanted)
        {
            _probes.GetOrAdd(target, key => new RunningProbe(key, RunAsync));
        }
    }

    /// <summary>Whether the endpoint is healthy under this check; one not probed (yet) is.</summary>
    public bool IsHealthy(ProbeTarget target) => !_probes.TryGetValue(target, out var probe) || probe.Healthy;

    public async ValueTask DisposeAsync() => await SetTargetsAsync([]);

    private async Task RunAsync(RunningProbe state, CancellationToken cancellation)
    {
        var (endpoint, check) = (state.Target.EndPoint, state.Target.Check);
        int passedInARow = 0, failedInARow = 0;
        using var timer = new PeriodicTimer(check.Interval);
        do
        {
            var passed = await _probe.PassesAsync(endpoint, check, cancellation);
            (passedInARow, failedInARow) = passed ? (passedInARow + 1, 0) : (0, failedInARow + 1);
            if (state.Healthy && failedInARow >= check.UnhealthyThreshold)
            {
                state.Healthy = false;
                LogUnhealthy(endpoint, failedInARow);
                HealthChanged?.Invoke();
            }
            else if (!state.Healthy && passedInARow >= check.HealthyThreshold)
            {
                state.Healthy = true;
                LogHealthy(endpoint, passedInARow);
                HealthChanged?.Invoke();
            }
        }
        while (await timer.WaitForNextTickAsync(cancellation));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Endpoint {Endpoint} failed {Count} health checks in a row: it gets no new connections")]
    private partial void LogUnhealthy(IPEndPoint endpoint, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Endpoint {Endpoint} passed {Count} health checks in a row: it gets connections again")]
    private partial void LogHealthy(IPEndPoint endpoint, int count);

    /// <summary>One endpoint's probe loop and its current health.</summary>
    private sealed class RunningProbe : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private volatile bool _healthy = true;

        public RunningProbe(ProbeTarget target, Func<RunningProbe, CancellationToken, Task> run)
        {
            Target = target;
            _loop = Task.Run(() => run(this, _stop.Token));
        }

        public ProbeTarget Target { get; }

        public bool Healthy
        {
            get => _healthy;
            set => _healthy = value;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
            _stop.Dispose();
        }
    }
}

/// <summary>An endpoint and the check it is probed with; two services probing one endpoint alike share the probe.</summary>
internal sealed record ProbeTarget(IPEndPoint EndPoint, HealthCheck Check);
