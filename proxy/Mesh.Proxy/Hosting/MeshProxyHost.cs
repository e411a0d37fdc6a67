using System.Net;
using Mesh.Config;
using Mesh.Proxy.Hosting;
using Mesh.Proxy.Management;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy;

/// <summary>How a <see cref="MeshProxyHost"/> listens and what it starts with.</summary>
public sealed class MeshProxyHostOptions
{
    /// <summary>Listen addresses; port 0 picks a free port (see <see cref="MeshProxyHost.ListenEndPoints"/>). Each serves HTTP/1.1 and h2c.</summary>
    public IReadOnlyList<IPEndPoint> Listen { get; init; } = [new(IPAddress.Loopback, 0)];

    /// <summary>How to learn each connection's original destination. Required unless <see cref="ConfigureServices"/> registers one.</summary>
    public IOriginalDestinationResolver? Resolver { get; init; }

    /// <summary>The services to start with (compiled like any update).</summary>
    public IReadOnlyList<ServiceConfig> Services { get; init; } = [];

    /// <summary>The kernel's id of each source cgroup the services name, by path (see <see cref="MeshProxyConfigProvider.Update"/>).</summary>
    public IReadOnlyDictionary<string, ulong> SourceCgroupIds { get; init; } = new Dictionary<string, ulong>();

    /// <summary>Process-wide proxy settings.</summary>
    public Action<MeshProxyOptions>? Configure { get; init; }

    /// <summary>The agent's logger factory; without it the proxy logs nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Extra registrations (e.g. a <see cref="TimeProvider"/> or a resolver with dependencies).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>How long stopping waits for requests in flight.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a new connection may take to show whether it speaks HTTP/1.1 or h2c (at most
    /// <see cref="ProxySettings.RequestHeadersTimeout"/>) before it is treated as HTTP/1.1.
    /// </summary>
    public TimeSpan ProtocolDetectionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>What one client may send: header and body sizes, the header timeout, HTTP/2 streams. Read once, at build.</summary>
    public ProxySettings Limits { get; init; } = new();

    /// <summary>
    /// OTLP export of traces and metrics, read once at start. Null: no telemetry at all. Otherwise the options and the
    /// <c>OTEL_*</c> environment decide (<see cref="MeshTelemetryOptions"/>); without an endpoint in either, nothing is
    /// exported, no exporter is started and the proxy makes no spans or metrics.
    /// </summary>
    public MeshTelemetryOptions? Telemetry { get; init; }
}

/// <summary>
/// The proxy as a self-contained server the agent (or a test) can start and stop: its own DI container, Kestrel on the
/// given endpoints (HTTP/1.1 and h2c on each) and the pipeline of <see cref="MeshProxyServiceCollectionExtensions.UseMeshProxy"/>.
/// </summary>
public sealed partial class MeshProxyHost : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly CleartextListener[] _listeners;
    private readonly IReadOnlyList<ServiceConfig> _initial;
    private readonly IReadOnlyDictionary<string, ulong> _initialCgroupIds;
    private readonly ProxySettings _limits;
    private readonly MeshTelemetryOptions? _telemetry;
    private readonly TelemetryExportPlan? _export;

    private MeshProxyHost(IHost host, CleartextListener[] listeners, MeshProxyHostOptions options, TelemetryExportPlan? export)
    {
        _host = host;
        _listeners = listeners;
        _initial = options.Services;
        _initialCgroupIds = options.SourceCgroupIds;
        _limits = options.Limits;
        _telemetry = options.Telemetry;
        _export = export;
    }

    /// <summary>The bound listen endpoints, in the order of <see cref="MeshProxyHostOptions.Listen"/> (after start).</summary>
    public IReadOnlyList<IPEndPoint> ListenEndPoints =>
        [.. _listeners.Select(l => l.Bound ?? throw new InvalidOperationException("The proxy has not started."))];

    /// <summary>
    /// Serves a socket listening in a workload's network namespace, handed over by the agent (see
    /// <see cref="Isolation.ListenerHandoff"/>), beside the proxy's own listeners; takes the handle.
    /// </summary>
    public Task AttachWorkloadListenerAsync(long id, System.Net.Sockets.SafeSocketHandle socket, WorkloadListener workload) =>
        _listeners[0].AttachAsync(id, socket, workload);

    /// <summary>Stops serving and closes a workload's socket; unknown ids are ignored.</summary>
    public Task DetachWorkloadListenerAsync(long id) => _listeners[0].DetachAsync(id);

    /// <summary>How many workload sockets the proxy serves now.</summary>
    public int WorkloadListenerCount => _listeners[0].WorkloadSocketCount;

    /// <summary>The configuration source: <see cref="MeshProxyConfigProvider.Update"/> replaces the services atomically.</summary>
    public MeshProxyConfigProvider Config => _host.Services.GetRequiredService<MeshProxyConfigProvider>();

    /// <summary>The proxy's services.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>Builds a host without starting it.</summary>
    public static MeshProxyHost Create(MeshProxyHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Listen.Count == 0)
        {
            throw new ArgumentException("At least one listen endpoint is needed.", nameof(options));
        }

        // A client that trickles the first bytes of the HTTP/2 preface is a slow client like any other: it gets no longer
        // to show its protocol than to send its headers.
        var sniffTimeout = options.ProtocolDetectionTimeout < options.Limits.RequestHeadersTimeout ? options.ProtocolDetectionTimeout : options.Limits.RequestHeadersTimeout;
        var listeners = options.Listen.Select(e => new CleartextListener(e, sniffTimeout)).ToArray();
        var export = options.Telemetry is { } telemetry ? TelemetryExportPlan.Resolve(telemetry) : null;
        var host = new HostBuilder()
            // The OpenTelemetry SDK reads the standard OTEL_* variables from the host's configuration, which is
            // otherwise empty here.
            .ConfigureAppConfiguration(configuration => configuration.AddInMemoryCollection(
                export?.Environment.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)) ?? []))
            .ConfigureServices(services =>
            {
                services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
                services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
                if (options.LoggerFactory is { } loggerFactory)
                {
                    services.AddSingleton(loggerFactory);
                }

                services.AddMeshProxy(options.Configure);
                if (export is not null)
                {
                    services.AddMeshProxyTelemetry(export);
                }

                if (options.Resolver is { } resolver)
                {
                    services.AddSingleton(resolver);
                }

                options.ConfigureServices?.Invoke(services);
            })
            .ConfigureWebHost(web =>
            {
                web.UseKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    KestrelLimits.Apply(options.Limits, kestrel.Limits);
                    foreach (var listener in listeners)
                    {
                        kestrel.Listen(listener.Lane(HttpProtocols.Http1), o => o.Protocols = HttpProtocols.Http1);
                        kestrel.Listen(listener.Lane(HttpProtocols.Http2), o => o.Protocols = HttpProtocols.Http2);
                    }
                });
                web.ConfigureServices(services =>
                {
                    // After UseKestrel, so that Kestrel's socket transport is registered too and ours is asked first.
                    services.AddSingleton<IConnectionListenerFactory, CleartextListenerFactory>();
                    // Each connection's request processing and its sends run on the thread that completed the socket
                    // operation (with mesh run's inline completions, the socket engine's epoll thread) instead of two
                    // hops to the thread pool: like an nginx worker, one thread carries a request from the client's
                    // bytes to the upstream and the answer back. "Unsafe" because a blocking call there would stall
                    // every connection of that thread; nothing on the proxy's request path blocks. Inline sends no
                    // longer join the pieces of a body, which CoalescedResponseBody does instead.
                    services.Configure<SocketTransportOptions>(socket => socket.UnsafePreferInlineScheduling = true);
                });
                web.Configure(app => app.UseMeshProxy());
            })
            .Build();
        return new MeshProxyHost(host, listeners, options, export);
    }

    /// <summary>Builds and starts a host.</summary>
    public static async Task<MeshProxyHost> StartAsync(MeshProxyHostOptions options, CancellationToken cancellationToken = default)
    {
        var host = Create(options);
        try
        {
            await host.StartAsync(cancellationToken);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Applies the initial services and starts listening.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_initial.Count > 0 && Config.Version == 0)
        {
            Config.Update(_initial, _initialCgroupIds);
        }

        await _host.StartAsync(cancellationToken);
        Log.ListenerLimits(Services.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.Proxy.Hosting"), KestrelLimits.Describe(_limits));
        if (_telemetry is not null)
        {
            var logger = Services.GetRequiredService<ILoggerFactory>().CreateLogger("Mesh.Proxy.Telemetry");
            if (_export is not null)
            {
                Log.TelemetryExporting(logger, _export.Describe());
            }
            else
            {
                Log.TelemetryOff(logger);
            }
        }
    }

    /// <summary>Stops listening and waits (up to the shutdown timeout) for requests in flight.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _host.StopAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync();
        }
        finally
        {
            _host.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.ListenerLimits, Level = LogLevel.Information,
            Message = "Proxy limits per client: {Limits}")]
        public static partial void ListenerLimits(ILogger logger, string limits);

        [LoggerMessage(EventId = EventIds.TelemetryExporting, Level = LogLevel.Information,
            Message = "Telemetry: exporting {Export}")]
        public static partial void TelemetryExporting(ILogger logger, string export);

        [LoggerMessage(EventId = EventIds.TelemetryOff, Level = LogLevel.Information,
            Message = "Telemetry off: no OTLP endpoint in the config's telemetry.otlp.endpoint or in OTEL_EXPORTER_OTLP_ENDPOINT")]
        public static partial void TelemetryOff(ILogger logger);
    }

    /// <summary>The agent owns the process lifetime (signals, Ctrl+C); the proxy host only follows Start and Stop.</summary>
    private sealed class EmbeddedHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
