using System.Net;
using System.Runtime.ExceptionServices;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Telemetry;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// Runs each forwarded request through its route's Polly pipeline, inside the HttpMessageInvoker that YARP's forwarder
/// uses for the cluster.
/// </summary>
/// <remarks>
/// Resilience sits here, below <c>IHttpForwarder</c>, rather than around it: around it, a retry would have to run the
/// forwarder again after it may already have started the client's response; here a try ends at the upstream's
/// response headers, so a failed try is thrown away before anything reaches the client. YARP's request content streams
/// the client's body and can be sent once; for replay the filters stage has buffered bodies up to the limit
/// (<see cref="RequestBody"/>), and <see cref="ForwardingAttempts"/> sends those bytes on every try. Pipeline
/// rejections become local answers: a timeout 504, an open circuit 503, each with <c>x-mesh-error</c>.
/// For a traced request, each try is a client span of its own (<see cref="ProxyInstrumentation.StartAttempt"/>), since
/// every try passes here, once, whether the route retries or not; a request that is not traced goes straight on.
/// </remarks>
internal sealed partial class ResilientForwardingHandler(HttpMessageHandler inner, ILogger logger, ProxyInstrumentation? instrumentation)
    : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // The transform leaves the feature out when this handler has nothing to do for the route (see
        // CompiledRoute.NeedsForwardingHandler); then, as on a route without resilience, no state machine of ours runs.
        if (!request.Options.TryGetValue(MeshRequestFeature.OptionsKey, out var feature))
        {
            return base.SendAsync(request, cancellationToken);
        }

        return feature.Route.HasResilience
            ? SendThroughPipelineAsync(request, feature, cancellationToken)
            : SendTryAsync(request, feature, attempt: 1, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendThroughPipelineAsync(
        HttpRequestMessage request,
        MeshRequestFeature feature,
        CancellationToken cancellationToken)
    {
        var route = feature.Route;
        var attempts = new ForwardingAttempts(request, feature);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(ForwardingAttempts.Key, attempts);
        route.RetryBudget?.RequestStarted();
        try
        {
            var outcome = await route.Pipeline.ExecuteOutcomeAsync(
                static async (context, state) =>
                {
                    var message = state.Attempts.Next();
                    try
                    {
                        return Outcome.FromResult(
                            await state.Handler.SendTryAsync(message, state.Feature, state.Attempts.Count, context.CancellationToken));
                    }
                    catch (Exception e)
                    {
                        return Outcome.FromException<HttpResponseMessage>(e);
                    }
                },
                context,
                (Handler: this, Attempts: attempts, Feature: feature));

            switch (outcome.Exception)
            {
                case null:
                    return outcome.Result!;
                case TimeoutRejectedException:
                    Log.UpstreamTimedOut(logger, route.Id, attempts.Count);
                    return LocalResponse(request, HttpStatusCode.GatewayTimeout, "timeout");
                case BrokenCircuitException:
                    Log.CircuitRejected(logger, route.Id);
                    feature.Telemetry?.Decide(ProxyVerdict.CircuitOpen);
                    return LocalResponse(request, HttpStatusCode.ServiceUnavailable, "circuit-open");
                default:
                    // Connection errors and cancellations: YARP's forwarder reports them (502, or the client is gone).
                    ExceptionDispatchInfo.Throw(outcome.Exception);
                    return null!;
            }
        }
        finally
        {
            route.RetryBudget?.RequestEnded(attempts.RetriesGranted);
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Task<HttpResponseMessage> SendTryAsync(
        HttpRequestMessage message,
        MeshRequestFeature feature,
        int attempt,
        CancellationToken cancellationToken) =>
        instrumentation is null || feature.Telemetry?.Activity is null
            ? base.SendAsync(message, cancellationToken)
            : SendTracedTryAsync(instrumentation, message, feature, attempt, cancellationToken);

    private async Task<HttpResponseMessage> SendTracedTryAsync(
        ProxyInstrumentation instrumentation,
        HttpRequestMessage message,
        MeshRequestFeature feature,
        int attempt,
        CancellationToken cancellationToken)
    {
        var span = instrumentation.StartAttempt(message, feature, attempt);
        try
        {
            var response = await base.SendAsync(message, cancellationToken);
            instrumentation.EndAttempt(span, response, failure: null);
            return response;
        }
        catch (Exception e)
        {
            instrumentation.EndAttempt(span, response: null, e);
            throw;
        }
    }

    private static HttpResponseMessage LocalResponse(HttpRequestMessage request, HttpStatusCode status, string error)
    {
        var response = new HttpResponseMessage(status) { RequestMessage = request, Version = request.Version };
        response.Headers.TryAddWithoutValidation(MeshHeaders.Error, error);
        return response;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.UpstreamTimedOut, Level = LogLevel.Information,
            Message = "Route {RouteId}: timed out after {Attempts} tries; answering 504")]
        public static partial void UpstreamTimedOut(ILogger logger, string routeId, int attempts);

        [LoggerMessage(EventId = EventIds.CircuitRejected, Level = LogLevel.Debug,
            Message = "Route {RouteId}: circuit open; answering 503 without calling the upstream")]
        public static partial void CircuitRejected(ILogger logger, string routeId);
    }
}
