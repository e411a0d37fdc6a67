namespace Mesh.Proxy.Telemetry;

/// <summary>
/// Attribute names of the proxy's spans and metrics: OpenTelemetry HTTP semantic conventions where one fits, and
/// <c>mesh.*</c> for what only the mesh knows.
/// </summary>
internal static class TelemetryTags
{
    public const string Service = "mesh.service";
    public const string Route = "mesh.route";
    public const string Verdict = "mesh.verdict";
    public const string SourceService = "mesh.source";

    /// <summary>The status code's class, "2xx" to "5xx": the metrics' label instead of the code itself.</summary>
    public const string StatusClass = "mesh.status_class";

    public const string RequestMethod = "http.request.method";
    public const string ResponseStatusCode = "http.response.status_code";

    /// <summary>Semantic conventions: set on retries only, 1 for the first retry.</summary>
    public const string ResendCount = "http.request.resend_count";

    public const string UrlPath = "url.path";
    public const string UrlScheme = "url.scheme";
    public const string UrlFull = "url.full";
    public const string ServerAddress = "server.address";
    public const string ServerPort = "server.port";
    public const string ClientAddress = "client.address";
    public const string ProtocolVersion = "network.protocol.version";
    public const string ErrorType = "error.type";
}
