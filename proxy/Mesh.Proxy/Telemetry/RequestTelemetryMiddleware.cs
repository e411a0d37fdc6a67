using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// First stage of the pipeline when telemetry is on: opens the request's server span, lets the later stages fill in
/// service, route and verdict (<see cref="RequestTelemetry"/>), and when the answer is complete closes the span and
/// records the request's metrics.
/// </summary>
internal sealed class RequestTelemetryMiddleware(RequestDelegate next, ProxyInstrumentation instrumentation, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var start = time.GetTimestamp();
        var telemetry = instrumentation.StartRequest(context);
        context.Features.Set(telemetry);
        Exception? failure = null;
        try
        {
            await next(context);
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            // An exception that escapes before the answer started becomes Kestrel's 500.
            var status = failure is null || context.Response.HasStarted ? context.Response.StatusCode : StatusCodes.Status500InternalServerError;
            instrumentation.EndRequest(telemetry, status, failure, time.GetElapsedTime(start));
        }
    }
}
