using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// First stage of the pipeline when telemetry is on: opens the request's server span if it is traced, lets the later
/// stages fill in service, route and verdict (<see cref="RequestTelemetry"/>), closes the span when the later stages are
/// done, and records the request's metrics when its answer is complete.
/// </summary>
/// <remarks>
/// The metrics are recorded by a callback of the server's (<see cref="HttpResponse.OnCompleted(Func{object, Task}, object)"/>,
/// whose list Kestrel keeps per connection) rather than after an <c>await</c> here: an untraced request, 99 % of them by
/// default and all with metrics only, then takes no async state machine of this stage's (about 140 bytes and its
/// continuation, per request). By then the server has set the 500 of an exception that escaped before the answer began.
/// </remarks>
internal sealed class RequestTelemetryMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ProxyInstrumentation _instrumentation;
    private readonly TimeProvider _time;
    private readonly Func<object, Task> _recordRequest;

    public RequestTelemetryMiddleware(RequestDelegate next, ProxyInstrumentation instrumentation, TimeProvider time)
    {
        _next = next;
        _instrumentation = instrumentation;
        _time = time;
        _recordRequest = RecordRequest;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var caller = Activity.Current;
        var telemetry = _instrumentation.StartRequest(context, _time.GetTimestamp());
        context.Features.Set(telemetry);
        context.Response.OnCompleted(_recordRequest, telemetry);
        if (telemetry.Activity is not { } span)
        {
            return _next(context);
        }

        // The span is current for the later stages (TraceAsync's execution context keeps it), not for the server that
        // called this method, which is not async: left current there, it would also be current for the server's work
        // after the pipeline (its OnCompleted callbacks, its end of the request), until ASP.NET Core's own activity of
        // the request, if any, stopped and restored its predecessor.
        var traced = TraceAsync(context, span);
        Activity.Current = caller;
        return traced;
    }

    private async Task TraceAsync(HttpContext context, Activity span)
    {
        Exception? failure = null;
        try
        {
            await _next(context);
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
            _instrumentation.EndSpan(span, status, failure);
        }
    }

    private Task RecordRequest(object state)
    {
        var telemetry = (RequestTelemetry)state;
        _instrumentation.RecordRequest(telemetry, telemetry.Context.Response.StatusCode, _time.GetElapsedTime(telemetry.Start));
        return Task.CompletedTask;
    }
}
