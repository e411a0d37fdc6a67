using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Mesh.Proxy.Hosting;

/// <summary>
/// Answers 413 for a request body over the server's MaxRequestBodySize (<see cref="Mesh.Config.ProxySettings.MaxRequestBodySize"/>),
/// with <c>x-mesh-error: body-too-large</c> and, on HTTP/1.x, <c>Connection: close</c>.
/// </summary>
/// <remarks>
/// Kestrel counts the body only as it is read, by which time YARP has sent the request's headers to an endpoint, and it
/// reports an overrun as an exception that YARP turns into 400. So a body whose Content-Length is over the limit is refused
/// here, before routing, and nothing is forwarded; a chunked (or HTTP/2 length-less) body is cut where it passes the limit,
/// so the endpoint gets at most the limit and an aborted request, and the client 413 instead of YARP's 400 while the answer
/// has not started. The same holds when the body is read to keep it for retries.
/// </remarks>
internal sealed partial class RequestBodyLimitMiddleware(RequestDelegate next, ILogger<RequestBodyLimitMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        // A request without a body (most GETs) cannot pass the limit: no await, so no state machine for it.
        return context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false }
            ? next(context)
            : LimitAsync(context);
    }

    private async Task LimitAsync(HttpContext context)
    {
        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (limit is { } max && context.Request.ContentLength > max)
        {
            Log.BodyTooLarge(logger, context.Request.ContentLength.Value, max);
            await RejectAsync(context);
            return;
        }

        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
        {
            // Read by a stage before the forwarder (the retry buffer).
            Log.StreamedBodyTooLarge(logger, limit);
            await RejectAsync(context);
            return;
        }

        if (!context.Response.HasStarted && IsBodyTooLarge(context.Features.Get<IForwarderErrorFeature>()?.Exception))
        {
            Log.StreamedBodyTooLarge(logger, limit);
            await RejectAsync(context);
        }
    }

    private static bool IsBodyTooLarge(Exception? error) => error switch
    {
        null => false,
        BadHttpRequestException bad => bad.StatusCode == StatusCodes.Status413PayloadTooLarge,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsBodyTooLarge),
        _ => IsBodyTooLarge(error.InnerException),
    };

    private static Task RejectAsync(HttpContext context)
    {
        if (HttpProtocol.IsHttp10(context.Request.Protocol) || HttpProtocol.IsHttp11(context.Request.Protocol))
        {
            // The rest of the body is not worth reading to keep the connection (RFC 9110, 15.5.14).
            context.Response.Headers.Connection = "close";
        }
        return LocalReply.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, MeshHeaders.Error, "body-too-large");
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RequestBodyTooLarge, Level = LogLevel.Debug,
            Message = "Request body of {Length} bytes is over the limit of {Limit}; answering 413 without forwarding")]
        public static partial void BodyTooLarge(ILogger logger, long length, long limit);

        [LoggerMessage(EventId = EventIds.RequestBodyCut, Level = LogLevel.Debug,
            Message = "Request body passed the limit of {Limit} bytes while it was read; answering 413")]
        public static partial void StreamedBodyTooLarge(ILogger logger, long? limit);
    }
}
