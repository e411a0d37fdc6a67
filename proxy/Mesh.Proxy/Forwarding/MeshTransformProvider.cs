using Mesh.Config;
using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Mesh.Proxy.Forwarding;

/// <summary>
/// The YARP transforms of every generated route. They read the request's <see cref="MeshRequestFeature"/>, so the
/// header modifiers and URL rewrite come from the mesh route the request matched (several mesh routes share one YARP
/// route per backend service). The request transform also hands the feature to the resilience handler through
/// <see cref="HttpRequestMessage.Options"/>, when that handler has something to do for the request, and sends a new
/// trace's not-sampled decision upstream.
/// </summary>
internal sealed class MeshTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        // Transparent to the upstream: the client's Host header, and only X-Forwarded-For (appended) of the
        // X-Forwarded-* set, since the proxy is the client's stand-in rather than an edge gateway.
        context.UseDefaultForwarders = false;
        context.AddOriginalHost(true);
        context.AddXForwardedFor(action: ForwardedTransformActions.Append);
        context.AddRequestTransform(TransformRequest);
        context.AddResponseTransform(TransformResponse);
        context.AddResponseTransform(CoalescedResponseBody.Attach);
    }

    private ValueTask TransformRequest(RequestTransformContext context)
    {
        var feature = context.HttpContext.Features.Get<MeshRequestFeature>();
        if (feature is null)
        {
            return default;
        }

        var route = feature.Route;
        if (route.Rewrite is { } rewrite)
        {
            if (rewrite.Path is { } path)
            {
                context.Path = PathRewriter.Apply(context.Path.Value ?? "/", path, feature.MatchedBy?.Prefix);
            }

            if (rewrite.Hostname is { } hostname)
            {
                context.ProxyRequest.Headers.Host = hostname;
            }
        }

        if (route.RequestHeaders is { } modifier)
        {
            // Remove, then set, then add, as the config documents (Gateway API's HTTPHeaderFilter). Indexed loops:
            // foreach over an IReadOnlyList would box an enumerator per list and request.
            for (var i = 0; i < modifier.Remove.Count; i++)
            {
                RequestTransform.RemoveHeader(context, modifier.Remove[i]);
            }

            for (var i = 0; i < modifier.Set.Count; i++)
            {
                var header = modifier.Set[i];
                RequestTransform.RemoveHeader(context, header.Name);
                RequestTransform.AddHeader(context, header.Name, header.Value);
            }

            for (var i = 0; i < modifier.Add.Count; i++)
            {
                var header = modifier.Add[i];
                RequestTransform.AddHeader(context, header.Name, header.Value);
            }
        }

        if (feature.Route.NeedsForwardingHandler(traced: feature.Telemetry?.Activity is not null))
        {
            context.ProxyRequest.Options.Set(MeshRequestFeature.OptionsKey, feature);
        }

        if (feature.Telemetry?.UnsampledTraceparent is { } traceparent)
        {
            // In place of a malformed one the client may have sent (which made this a new trace) and its tracestate, as
            // YARP copied them. Looked up in the client's headers first: a removal from the outgoing ones parses the
            // name and searches them, for every request of the 99 % not sampled, and clients rarely send either.
            var sent = context.HttpContext.Request.Headers;
            if (sent.ContainsKey(HeaderNames.TraceParent))
            {
                RequestTransform.RemoveHeader(context, HeaderNames.TraceParent);
            }

            if (sent.ContainsKey(HeaderNames.TraceState))
            {
                RequestTransform.RemoveHeader(context, HeaderNames.TraceState);
            }

            context.ProxyRequest.Headers.TryAddWithoutValidation(HeaderNames.TraceParent, traceparent);
        }

        return default;
    }

    private static ValueTask TransformResponse(ResponseTransformContext context)
    {
        if (context.ProxyResponse is null
            || context.HttpContext.Features.Get<MeshRequestFeature>()?.Route.ResponseHeaders is not HeaderModifier modifier)
        {
            return default;
        }

        var headers = context.HttpContext.Response.Headers;
        for (var i = 0; i < modifier.Remove.Count; i++)
        {
            headers.Remove(modifier.Remove[i]);
        }

        for (var i = 0; i < modifier.Set.Count; i++)
        {
            var header = modifier.Set[i];
            headers[header.Name] = header.Value;
        }

        for (var i = 0; i < modifier.Add.Count; i++)
        {
            var header = modifier.Add[i];
            headers.Append(header.Name, header.Value);
        }

        return default;
    }
}
