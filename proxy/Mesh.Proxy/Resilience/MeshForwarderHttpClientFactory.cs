using System.Net;
using System.Net.Sockets;
using Mesh.Proxy.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// YARP's client factory (one HttpMessageInvoker per cluster, i.e. per service, reused while the cluster's client
/// settings do not change) with <see cref="ResilientForwardingHandler"/> on top of the SocketsHttpHandler.
/// </summary>
internal sealed class MeshForwarderHttpClientFactory(
    IOptions<MeshProxyOptions> options,
    ILogger<ForwarderHttpClientFactory> factoryLogger,
    ILogger<ResilientForwardingHandler> handlerLogger,
    ProxyInstrumentation? instrumentation = null) : ForwarderHttpClientFactory(factoryLogger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        if (instrumentation is not null)
        {
            // No propagator: no DiagnosticsHandler in the chain, whose hidden per-send activity would be what the
            // upstream sees as its parent. Each try's own span is injected instead (ProxyInstrumentation.StartAttempt).
            handler.ActivityHeadersPropagator = null;
        }

        handler.ConnectTimeout = options.Value.UpstreamConnectTimeout;
        var mark = options.Value.UpstreamSocketMark;
        if (mark != 0)
        {
            handler.ConnectCallback = (connection, cancellation) => ConnectMarkedAsync(connection.DnsEndPoint, mark, cancellation);
        }
    }

    private static async ValueTask<Stream> ConnectMarkedAsync(DnsEndPoint endpoint, uint mark, CancellationToken cancellation)
    {
        const int solSocket = 1;
        const int soMark = 36;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetRawSocketOption(solSocket, soMark, BitConverter.GetBytes(mark));
            await socket.ConnectAsync(endpoint, cancellation);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new ResilientForwardingHandler(base.WrapHandler(context, handler), handlerLogger, instrumentation);
}
