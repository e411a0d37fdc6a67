using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy;

/// <summary>Headers the proxy adds to answers it makes itself.</summary>
public static class MeshHeaders
{
    /// <summary>Why a request was refused with 403 (route deny, default deny, authorization).</summary>
    public const string DenyReason = "x-mesh-deny-reason";

    /// <summary>What the proxy answered instead of the upstream: timeout, circuit-open, unknown-destination, no-backend, body-too-large.</summary>
    public const string Error = "x-mesh-error";

    /// <summary>Set to "abort" on responses produced by fault injection.</summary>
    public const string Fault = "x-mesh-fault";
}

/// <summary>Writes answers that the proxy makes itself (no upstream involved).</summary>
internal static class LocalReply
{
    public static Task WriteAsync(HttpContext context, int statusCode, string header, string value)
    {
        var response = context.Response;
        response.StatusCode = statusCode;
        response.Headers[header] = value;
        response.ContentLength = 0;
        return Task.CompletedTask;
    }
}
