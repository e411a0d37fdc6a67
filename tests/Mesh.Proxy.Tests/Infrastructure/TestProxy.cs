using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Mesh.Testing;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A started <see cref="MeshProxyHost"/> on 127.0.0.1:0 with a Host-header resolver, and an HttpClient towards it.
/// <see cref="SendAsync"/> addresses a service by putting its address in the Host header, as if the kernel had
/// diverted a connection to it.
/// </summary>
internal sealed class TestProxy : IAsyncDisposable
{
    private TestProxy(MeshProxyHost host, CapturingLoggerProvider logs)
    {
        Host = host;
        Logs = logs;
        Client = CreateClient(null);
    }

    public MeshProxyHost Host { get; }

    public CapturingLoggerProvider Logs { get; }

    public HttpClient Client { get; }

    public IPEndPoint EndPoint => Host.ListenEndPoints[0];

    public static Task<TestProxy> StartAsync(params ServiceConfig[] services) => StartAsync(services, resolver: null);

    public static async Task<TestProxy> StartAsync(
        IReadOnlyList<ServiceConfig> services,
        IOriginalDestinationResolver? resolver,
        IReadOnlyList<IPEndPoint>? listen = null,
        Action<MeshProxyOptions>? configure = null,
        MeshTelemetryOptions? telemetry = null,
        ProxySettings? limits = null)
    {
        var logs = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        var host = await MeshProxyHost.StartAsync(new MeshProxyHostOptions
        {
            Listen = listen ?? [new IPEndPoint(IPAddress.Loopback, 0)],
            Resolver = resolver ?? new HostHeaderDestinationResolver(),
            Services = services,
            LoggerFactory = loggerFactory,
            Configure = configure,
            ShutdownTimeout = TimeSpan.FromSeconds(1),
            Telemetry = telemetry,
            Limits = limits ?? new ProxySettings(),
        });
        return new TestProxy(host, logs);
    }

    /// <summary>A client towards the proxy; <paramref name="localAddress"/> picks the source address (any 127.x).</summary>
    public HttpClient CreateClient(IPAddress? localAddress, Version? version = null)
    {
        var handler = new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false };
        if (localAddress is not null)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(localAddress, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return new HttpClient(handler)
        {
            BaseAddress = new Uri($"http://{EndPoint}"),
            Timeout = TimeSpan.FromSeconds(10),
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    public Task<HttpResponseMessage> SendAsync(
        ServiceConfig service,
        HttpMethod method,
        string pathAndQuery,
        Action<HttpRequestMessage>? configure = null,
        HttpClient? client = null)
    {
        client ??= Client;
        var request = new HttpRequestMessage(method, pathAndQuery)
        {
            Version = client.DefaultRequestVersion,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Host = service.EndPoint.ToString();
        configure?.Invoke(request);
        return client.SendAsync(request);
    }

    public Task<HttpResponseMessage> GetAsync(ServiceConfig service, string pathAndQuery) =>
        SendAsync(service, HttpMethod.Get, pathAndQuery);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
    }
}
