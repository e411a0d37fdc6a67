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
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new ResilientForwardingHandler(base.WrapHandler(context, handler), handlerLogger, instrumentation);
}
