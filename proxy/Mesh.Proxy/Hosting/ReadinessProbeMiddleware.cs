using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Hosting;

/// <summary>The readiness probe the node proxy answers itself.</summary>
public static class ReadinessProbe
{
    /// <summary>What to GET on the proxy's listener, dialled directly (not diverted): 200 while the proxy serves.</summary>
    public const string Path = "/.mesh/ready";
}

/// <summary>
/// Answers the node agent's watchdog: <c>GET /.mesh/ready</c> on a connection that was not diverted (the agent dials
/// the listener itself) gets 200 from the pipeline's first stage, so the probe proves the proxy serves without showing
/// up in traces or metrics. The same path on a diverted connection is an application's request like any other.
/// </summary>
internal sealed class ReadinessProbeMiddleware(RequestDelegate next, IOriginalDestinationResolver resolver)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path == ReadinessProbe.Path && resolver.Resolve(context) is null)
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            return context.Response.WriteAsync("ready");
        }
        return next(context);
    }
}
