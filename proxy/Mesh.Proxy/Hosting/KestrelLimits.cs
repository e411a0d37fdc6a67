using System.Globalization;
using Mesh.Config;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Proxy.Hosting;

/// <summary>
/// What one client may send the proxy's listener (the config's <see cref="ProxySettings"/>), applied to Kestrel's limits
/// when the host is built (read once; a change needs a new host). Kestrel enforces them before a request reaches the pipeline: headers too large or too many
/// get 431 and headers sent too slowly 408, and the connection is closed. On HTTP/2 headers too large get 431 on their
/// stream, while a single field longer than the whole limit (an HPACK error) or more fields than the count end the
/// connection with GOAWAY COMPRESSION_ERROR or PROTOCOL_ERROR. A body over <see cref="ProxySettings.MaxRequestBodySize"/> gets 413
/// from <c>RequestBodyLimitMiddleware</c>.
/// </summary>
/// <remarks>
/// HTTP/2 rapid reset (CVE-2023-44487) is met by Kestrel's own guards, both scaled by
/// <see cref="ProxyHttp2Settings.MaxStreamsPerConnection"/>. Kestrel tracks at most twice that many streams per connection (at least
/// 100), counting streams the client reset while the proxy still works on them; past it each new stream is refused with
/// RST_STREAM ENHANCE_YOUR_CALM, and after more than 5 × 20 refusals within 5 heartbeats (seconds) the connection gets
/// GOAWAY ENHANCE_YOUR_CALM and is closed. Independently, a connection whose output queue (the refusals and answers it
/// has not taken yet) passes 4 × the tracked streams is reset. The 20 and the 4 × are the process-wide AppContext
/// switches <c>Microsoft.AspNetCore.Server.Kestrel.Http2.MaxEnhanceYourCalmCount</c> and
/// <c>...Http2.MaxConnectionFlowControlQueueSize</c>, read once per process, so they are not options here.
/// </remarks>
internal static class KestrelLimits
{
    /// <summary>Sets Kestrel's limits; Kestrel's setters refuse values out of its ranges.</summary>
    public static void Apply(ProxySettings settings, KestrelServerLimits limits)
    {
        limits.MaxRequestHeadersTotalSize = settings.MaxRequestHeadersSize;
        limits.MaxRequestHeaderCount = settings.MaxRequestHeaderCount;
        limits.MaxRequestBodySize = settings.MaxRequestBodySize;
        // Kestrel checks the header timeout on its 1 s heartbeat, so a slow client is cut 0 to 2 s after it.
        limits.RequestHeadersTimeout = settings.RequestHeadersTimeout;
        limits.KeepAliveTimeout = settings.KeepAliveTimeout;
        limits.Http2.MaxStreamsPerConnection = settings.Http2.MaxStreamsPerConnection;
        // HTTP/2 also caps each decoded field (16 KiB by default); one header may take the whole of the total, as on HTTP/1.1.
        limits.Http2.MaxRequestHeaderFieldSize = settings.MaxRequestHeadersSize;
    }

    /// <summary>The limits in one line, for the log.</summary>
    public static string Describe(ProxySettings settings) =>
        $"headers {settings.MaxRequestHeadersSize} bytes and {settings.MaxRequestHeaderCount} fields, body {settings.MaxRequestBodySize?.ToString(CultureInfo.InvariantCulture) ?? "unlimited"}"
        + $"{(settings.MaxRequestBodySize is null ? "" : " bytes")}, headers within {settings.RequestHeadersTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s, "
        + $"idle connections {settings.KeepAliveTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s, "
        + $"{settings.Http2.MaxStreamsPerConnection} HTTP/2 streams per connection";
}
