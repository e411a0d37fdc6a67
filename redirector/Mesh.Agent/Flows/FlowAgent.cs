using Mesh.Agent.L4;
using Mesh.Agent.Services;
using Mesh.Config;
using Mesh.Datapath.Flows;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Flows;

/// <summary>
/// Consumes the kernel's flow events for the life of the agent: keeps each, with the names to resolve it into a
/// <see cref="FlowRecord"/> with, in the <see cref="FlowHistory"/> that `mesh flows` reads through the admin socket.
/// Started after the datapaths, which pin the ring buffer.
/// </summary>
internal sealed class FlowAgent : IHostedService, IDisposable
{
    /// <summary>One event per this many XDP drops per CPU, so a flood cannot fill the ring buffer.</summary>
    public const uint XdpSampleEvery = 100;

    /// <summary>Translated connections reported per CPU per 100 ms (1,000/s per CPU); beyond that, a sample.</summary>
    public const uint TranslatedPerWindow = 100;

    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly L4Agent _l4;
    private readonly ServicesAgent _services;
    private readonly ILogger<FlowAgent> _logger;
    private FlowEventReader? _reader;
    private BpfMap? _counters;
    private volatile FlowNames _names;

    public FlowAgent(AgentConfig config, AgentOverrides overrides, L4Agent l4, ServicesAgent services, FlowHistory history, ILogger<FlowAgent> logger)
    {
        _config = config;
        _overrides = overrides;
        _l4 = l4;
        _services = services;
        _logger = logger;
        History = history;
        _names = new FlowNames(config.Current, l4.RuleNameOfSlot, services.ServiceNameOf);
    }

    public FlowHistory History { get; }

    /// <summary>Flow events sent and lost so far, or null before the agent started.</summary>
    public FlowEventTotals? Totals() =>
        _counters is { } counters ? new FlowEventTotals(counters.SumPerCpu((uint)FlowCounter.EventsSent), counters.SumPerCpu((uint)FlowCounter.EventsLost)) : null;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var pinDirectory = _overrides.PinDirectoryFor(_config.Current);
        using (var settings = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.FlowSettings)))
        {
            settings.Update(0u, new FlowSettings { XdpSampleEvery = XdpSampleEvery, TranslatedPerWindow = TranslatedPerWindow });
        }
        _counters = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.FlowCounters));
        _reader = FlowEventReader.Start(pinDirectory, flow => History.Add(flow, _names), _logger);
        _config.Changed += OnConfigChanged;
        _logger.LogInformation("Reading flow events (one in {SampleEvery} XDP drops per CPU, up to {Translated} translated connections per CPU per 100 ms)",
            XdpSampleEvery, TranslatedPerWindow);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _config.Changed -= OnConfigChanged;
        _reader?.Dispose();
        _reader = null;
        _counters?.Dispose();
        _counters = null;
    }

    private void OnConfigChanged(object? sender, MeshConfig config) => _names = new FlowNames(config, _l4.RuleNameOfSlot, _services.ServiceNameOf);
}
