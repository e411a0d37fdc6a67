using System.Diagnostics.Metrics;
using Mesh.Agent.Flows;
using Mesh.Agent.L4;
using Mesh.Agent.L7;
using Mesh.Agent.Splice;
using Mesh.Config;
using Mesh.Proxy.Telemetry;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace Mesh.Agent.Telemetry;

/// <summary>
/// The kernel's counters as OpenTelemetry observable instruments, read from the BPF maps each time metrics are
/// collected, under the meter <see cref="MeterName"/>, exported over OTLP by the agent itself (as service
/// <see cref="ServiceName"/>) where the config's telemetry section sends the node proxy's. Counters of the kernel only
/// grow (per-CPU sums), so each is a monotonic observable counter.
/// </summary>
internal sealed class KernelMetrics : IHostedService, IDisposable
{
    public const string MeterName = "Mesh.Kernel";
    public const string ServiceName = "mesh-agent";

    private readonly SpliceAgent _splice;
    private readonly L4Agent _l4;
    private readonly L7Agent _l7;
    private readonly FlowAgent _flows;
    private readonly AgentConfig _config;
    private readonly TelemetryOptionsMapper _telemetryOptions;
    private Meter? _meter;
    private MeterProvider? _export;

    public KernelMetrics(SpliceAgent splice, L4Agent l4, L7Agent l7, FlowAgent flows, AgentConfig config, TelemetryOptionsMapper telemetryOptions)
    {
        _splice = splice;
        _l4 = l4;
        _l7 = l7;
        _flows = flows;
        _config = config;
        _telemetryOptions = telemetryOptions;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _meter = new Meter(MeterName);
        _meter.CreateObservableCounter("mesh.kernel.spliced.sockets", () => Observe(_splice.ReadCounters()?.SocketsRegistered), "{socket}",
            "Local TCP sockets registered for the kernel splice");
        _meter.CreateObservableCounter("mesh.kernel.spliced.bytes", () => Observe(_splice.ReadCounters()?.BytesRedirected), "By",
            "Bytes redirected socket to socket, past the TCP/IP stack");
        _meter.CreateObservableCounter("mesh.kernel.diverted.connections", () => Observe(_l7.ReadDivertCounters()?.Connections), "{connection}",
            "Connections diverted to the node proxy");
        _meter.CreateObservableCounter("mesh.kernel.diverted.fail_mode", ObserveFailModes, "{connection}",
            "Connections to services with HTTP policy made while the node proxy was down, by fail mode");
        _meter.CreateObservableCounter("mesh.kernel.l4.socket_denials", () => ObserveDenyRules(stats => stats.SocketCalls), "{call}",
            "connect()/sendmsg() calls refused by an L4 rule");
        _meter.CreateObservableCounter("mesh.kernel.l4.xdp_drops", () => ObserveDenyRules(stats => stats.XdpPackets), "{packet}",
            "Packets dropped by the XDP filter, by L4 rule");
        _meter.CreateObservableCounter("mesh.kernel.flow_events.lost", () => Observe(_flows.Totals()?.Lost), "{event}",
            "Flow events lost to a full ring buffer");
        _export = MeshMetricsExport.Start(_telemetryOptions.MapTelemetry(_config.Current.Telemetry), ServiceName, MeterName);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _export?.Dispose();
        _export = null;
        _meter?.Dispose();
        _meter = null;
    }

    private static IEnumerable<Measurement<long>> Observe(ulong? value) =>
        value is { } counted ? [new Measurement<long>((long)counted)] : [];

    private IEnumerable<Measurement<long>> ObserveFailModes()
    {
        if (_l7.ReadDivertCounters() is not { } counters)
        {
            return [];
        }
        return
        [
            new Measurement<long>((long)counters.FailedOpen, new KeyValuePair<string, object?>("mesh.fail_mode", "open")),
            new Measurement<long>((long)counters.FailedClosed, new KeyValuePair<string, object?>("mesh.fail_mode", "closed")),
        ];
    }

    /// <summary>One measurement per deny rule (and the default when it denies), tagged with the rule's name.</summary>
    private IEnumerable<Measurement<long>> ObserveDenyRules(Func<Mesh.Datapath.Maps.L4RuleStats, ulong> counter)
    {
        if (_l4.ReadStats() is not { } stats)
        {
            return [];
        }
        var measurements = stats.Rules
            .Where(entry => entry.Rule.Action == L4Action.Deny)
            .Select(entry => new Measurement<long>((long)counter(entry.Stats), new KeyValuePair<string, object?>("mesh.rule", entry.Rule.Name)))
            .ToList();
        if (stats.DefaultDenies)
        {
            measurements.Add(new Measurement<long>((long)counter(stats.Default), new KeyValuePair<string, object?>("mesh.rule", "(default)")));
        }
        return measurements;
    }
}
