using System.Threading.Channels;
using Mesh.Config;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Services;

/// <summary>
/// The service translation: keeps the kernel's service table (<see cref="ServiceTable"/>, loaded with the diversion's
/// programs) equal to the config's services and their healthy endpoints. Config edits and health changes are applied
/// one at a time, each in place; an edit the config watcher refused never arrives, so the last good one keeps serving.
/// </summary>
internal sealed partial class ServicesAgent : IHostedService, IAsyncDisposable
{
    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly EndpointHealthProber _prober;
    private readonly ILogger<ServicesAgent> _logger;
    private readonly Channel<MeshConfig?> _changes = Channel.CreateUnbounded<MeshConfig?>(new UnboundedChannelOptions { SingleReader = true });
    private ServiceTable? _table;
    private MeshConfig? _current;
    private IReadOnlyDictionary<uint, string> _namesByIndex = new Dictionary<uint, string>();
    private Task? _applying;

    public ServicesAgent(AgentConfig config, AgentOverrides overrides, EndpointHealthProber prober, ILogger<ServicesAgent> logger)
    {
        _config = config;
        _overrides = overrides;
        _prober = prober;
        _logger = logger;
    }

    /// <summary>Each translated service with its endpoints and their health, for `mesh status`; empty before the start.</summary>
    public IReadOnlyList<ServiceStatus> Status()
    {
        if (_current is not { } config)
        {
            return [];
        }
        return [.. ServiceCompiler.Translated(config).Select(service => new ServiceStatus(
            service.Name, service.EndPoint.ToString(), service.Transport.ToString().ToLowerInvariant(),
            [.. ServiceCompiler.Targets(service).Select(target =>
                new EndpointStatus(target.EndPoint.ToString(), service.WeightOf(target.EndPoint), _prober.IsHealthy(target)))]))];
    }

    /// <summary>The translation's counters, or null before the start.</summary>
    public LbCounterSnapshot? ReadCounters() => _table?.ReadCounters();

    /// <summary>The name of the service a translated flow's lb_service.id belongs to, or null.</summary>
    public string? ServiceNameOf(uint serviceId) => _namesByIndex.GetValueOrDefault(ServiceTable.IndexOf(serviceId));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _table = ServiceTable.OpenPinned(_overrides.PinDirectoryFor(_config.Current));
        await ApplyAsync(_config.Current);
        _prober.HealthChanged += OnHealthChanged;
        _config.Changed += OnConfigChanged;
        _applying = Task.Run(ApplyChangesAsync, CancellationToken.None);
    }

    /// <summary>
    /// Stops probing and leaves the table as it is: the diversion's programs, which read it, detach after this
    /// (stopped in reverse order), and a kill -9 leaves it serving as it was.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _config.Changed -= OnConfigChanged;
        _prober.HealthChanged -= OnHealthChanged;
        _changes.Writer.TryComplete();
        if (_applying is not null)
        {
            await _applying;
        }
        await _prober.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _changes.Writer.TryComplete();
        await _prober.DisposeAsync();
        _table?.Dispose();
    }

    private void OnConfigChanged(object? sender, MeshConfig config) => _changes.Writer.TryWrite(config);

    /// <summary>A health change re-applies the config in force; null in the queue stands for it.</summary>
    private void OnHealthChanged() => _changes.Writer.TryWrite(null);

    private async Task ApplyChangesAsync()
    {
        while (await _changes.Reader.WaitToReadAsync())
        {
            MeshConfig? config = null;
            while (_changes.Reader.TryRead(out var change))
            {
                config = change ?? config;
            }
            if ((config ?? _current) is { } next)
            {
                await ApplyAsync(next);
            }
        }
    }

    private async Task ApplyAsync(MeshConfig config)
    {
        try
        {
            var services = ServiceCompiler.Translated(config).ToList();
            await _prober.SetTargetsAsync([.. services.Where(service => service.Transport == ServiceTransport.Tcp).SelectMany(ServiceCompiler.Targets).Distinct()]);
            var compiled = services.Select(service => ServiceCompiler.Compile(service, _prober.IsHealthy)).ToList();
            _table!.Set(compiled);
            _current = config;
            var names = services.ToDictionary(service => LbServiceKey.From(service.EndPoint, ServiceCompiler.ProtocolOf(service)), service => service.Name);
            _namesByIndex = _table.ServicesByIndex().Where(found => names.ContainsKey(found.Value)).ToDictionary(found => found.Key, found => names[found.Value]);
            LogApplied(compiled.Count, compiled.Sum(service => service.Endpoints.Count), services.Sum(service => service.Endpoints.Count));
        }
        catch (Exception error)
        {
            LogApplyFailed(error);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Services} service(s) translated in the kernel, to {Healthy} healthy endpoint(s) of {Endpoints}")]
    private partial void LogApplied(int services, int healthy, int endpoints);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing the service table failed; the services keep their previous endpoints")]
    private partial void LogApplyFailed(Exception error);
}
