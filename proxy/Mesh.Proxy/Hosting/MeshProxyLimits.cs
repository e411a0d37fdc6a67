using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Mesh.Proxy;

/// <summary>
/// What one client may send the proxy's listener, applied to Kestrel's limits when the host is built (read once; a
/// change needs a new host). Kestrel enforces them before a request reaches the pipeline: headers too large or too many
/// get 431 and headers sent too slowly 408, and the connection is closed. On HTTP/2 headers too large get 431 on their
/// stream, while a single field longer than the whole limit (an HPACK error) or more fields than the count end the
/// connection with GOAWAY COMPRESSION_ERROR or PROTOCOL_ERROR. A body over <see cref="MaxRequestBodySize"/> gets 413
/// from <c>RequestBodyLimitMiddleware</c>.
/// </summary>
/// <remarks>
/// HTTP/2 rapid reset (CVE-2023-44487) is met by Kestrel's own guards, both scaled by
/// <see cref="Http2MaxStreamsPerConnection"/>. Kestrel tracks at most twice that many streams per connection (at least
/// 100), counting streams the client reset while the proxy still works on them; past it each new stream is refused with
/// RST_STREAM ENHANCE_YOUR_CALM, and after more than 5 × 20 refusals within 5 heartbeats (seconds) the connection gets
/// GOAWAY ENHANCE_YOUR_CALM and is closed. Independently, a connection whose output queue (the refusals and answers it
/// has not taken yet) passes 4 × the tracked streams is reset. The 20 and the 4 × are the process-wide AppContext
/// switches <c>Microsoft.AspNetCore.Server.Kestrel.Http2.MaxEnhanceYourCalmCount</c> and
/// <c>...Http2.MaxConnectionFlowControlQueueSize</c>, read once per process, so they are not options here.
/// </remarks>
public sealed class MeshProxyLimits
{
    /// <summary>All of a request's header fields together, in bytes (Kestrel's MaxRequestHeadersTotalSize). Default 32 KiB.</summary>
    public int MaxRequestHeadersTotalSize { get; init; } = 32 * 1024;

    /// <summary>Header fields in one request. Default 100.</summary>
    public int MaxRequestHeaderCount { get; init; } = 100;

    /// <summary>A request body's bytes, announced or chunked; null for no limit, the default.</summary>
    public long? MaxRequestBodySize { get; init; }

    /// <summary>
    /// From a request's first byte until its headers are complete (slowloris). Default 10 s. Kestrel checks it on its 1 s
    /// heartbeat, so a slow client is cut 0 to 2 s after it.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client connection that sends nothing stays open, between requests or before its first. Default 60 s.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Concurrent streams on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). Default 100.</summary>
    public int Http2MaxStreamsPerConnection { get; init; } = 100;

    /// <summary>Sets Kestrel's limits; Kestrel's setters refuse values out of its ranges.</summary>
    internal void ApplyTo(KestrelServerLimits limits)
    {
        limits.MaxRequestHeadersTotalSize = MaxRequestHeadersTotalSize;
        limits.MaxRequestHeaderCount = MaxRequestHeaderCount;
        limits.MaxRequestBodySize = MaxRequestBodySize;
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.KeepAliveTimeout = KeepAliveTimeout;
        limits.Http2.MaxStreamsPerConnection = Http2MaxStreamsPerConnection;
        // HTTP/2 also caps each decoded field (16 KiB by default); one header may take the whole of the total, as on HTTP/1.1.
        limits.Http2.MaxRequestHeaderFieldSize = MaxRequestHeadersTotalSize;
    }

    /// <summary>The limits in one line, for the log.</summary>
    public override string ToString() =>
        $"headers {MaxRequestHeadersTotalSize} bytes and {MaxRequestHeaderCount} fields, body {MaxRequestBodySize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"}"
        + $"{(MaxRequestBodySize is null ? "" : " bytes")}, headers within {RequestHeadersTimeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s, "
        + $"idle connections {KeepAliveTimeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s, "
        + $"{Http2MaxStreamsPerConnection} HTTP/2 streams per connection";
}
