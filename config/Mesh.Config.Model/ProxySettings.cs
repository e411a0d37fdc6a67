namespace Mesh.Config;

/// <summary>
/// The <c>proxy</c> section: what one client may send the node proxy's listener, for every diverted service alike
/// (Envoy's per-listener limits). Input past a limit is refused before anything reaches an endpoint: headers too large
/// or too many with 431, a body too large with 413, headers sent too slowly by closing the connection. Every key has a
/// default, so the section is optional.
/// </summary>
public sealed record ProxySettings
{
    public const int DefaultMaxRequestHeadersSize = 32 * 1024;

    public const int DefaultMaxRequestHeaderCount = 100;

    public static readonly TimeSpan DefaultRequestHeadersTimeout = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan DefaultKeepAliveTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The request's header fields together, in bytes (the request line has Kestrel's own 8 KiB limit).</summary>
    public int MaxRequestHeadersSize { get; init; } = DefaultMaxRequestHeadersSize;

    /// <summary>Header fields in one request.</summary>
    public int MaxRequestHeaderCount { get; init; } = DefaultMaxRequestHeaderCount;

    /// <summary>
    /// A request body's bytes, whether its length is announced or it is chunked; null for no limit ('unlimited', the
    /// default: a transparent proxy must not cut uploads and long streams the application itself accepts).
    /// </summary>
    public long? MaxRequestBodySize { get; init; }

    /// <summary>From a request's first byte until its headers are complete; a slower client is disconnected (slowloris).</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = DefaultRequestHeadersTimeout;

    /// <summary>How long a client connection may send nothing, between requests or before its first, before the proxy closes it.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = DefaultKeepAliveTimeout;

    public ProxyHttp2Settings Http2 { get; init; } = new();
}

/// <summary><c>proxy.http2</c>: HTTP/2 (h2c) client connections.</summary>
public sealed record ProxyHttp2Settings
{
    public const int DefaultMaxStreamsPerConnection = 100;

    /// <summary>
    /// Requests in flight at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). It also sets the rapid-reset guard:
    /// a client that keeps more than twice this many streams open, counting ones it reset but the proxy has not finished,
    /// gets them refused (ENHANCE_YOUR_CALM), and its connection closed when it persists.
    /// </summary>
    public int MaxStreamsPerConnection { get; init; } = DefaultMaxStreamsPerConnection;
}
