namespace Mesh.Proxy.Configuration;

/// <summary>Header changes, applied in the order set, add, remove (Gateway API HTTPHeaderFilter).</summary>
public sealed record HeaderModifier
{
    /// <summary>Replace the header's values with this one (or add it if absent).</summary>
    public IReadOnlyList<HttpHeader> Set { get; init; } = [];

    /// <summary>Append a value to the header (keeping existing values).</summary>
    public IReadOnlyList<HttpHeader> Add { get; init; } = [];

    /// <summary>Remove the header.</summary>
    public IReadOnlyList<string> Remove { get; init; } = [];
}

/// <summary>A header name and value.</summary>
public sealed record HttpHeader(string Name, string Value);

/// <summary>Rewrites the request sent upstream; the client is not told.</summary>
public sealed record UrlRewrite
{
    /// <summary>New Host header value, or null to keep the client's.</summary>
    public string? Hostname { get; init; }

    /// <summary>New path, or null to keep the client's.</summary>
    public PathModifier? Path { get; init; }
}

/// <summary>A path change for rewrites and redirects.</summary>
/// <param name="Type">Replace the whole path, or only the part the route's PathPrefix match matched.</param>
/// <param name="Value">The replacement path (starting with '/').</param>
public sealed record PathModifier(PathModifierType Type, string Value);

/// <summary>How a <see cref="PathModifier"/> changes the path.</summary>
public enum PathModifierType
{
    /// <summary>The path becomes the value.</summary>
    ReplaceFullPath,

    /// <summary>The matched prefix is replaced by the value; requires every match of the route to be a PathPrefix match.</summary>
    ReplacePrefixMatch,
}

/// <summary>Answer with a redirect. Unset parts keep the request's; the query string is kept.</summary>
public sealed record RequestRedirect
{
    /// <summary>"http" or "https", or null for the request's scheme.</summary>
    public string? Scheme { get; init; }

    /// <summary>Host for the Location header, or null for the request's host.</summary>
    public string? Hostname { get; init; }

    /// <summary>
    /// Port, or null: the scheme's well-known port when <see cref="Scheme"/> is set, otherwise the service port the
    /// client connected to. A well-known port is left out of the Location header.
    /// </summary>
    public int? Port { get; init; }

    /// <summary>Path change, or null to keep the request's path.</summary>
    public PathModifier? Path { get; init; }

    /// <summary>301, 302, 303, 307 or 308.</summary>
    public int StatusCode { get; init; } = 302;
}

/// <summary>A fire-and-forget copy of the request to another service; its response is discarded.</summary>
public sealed record RequestMirror
{
    /// <summary>The service that receives the copy.</summary>
    public required string Service { get; init; }

    /// <summary>Share of requests mirrored, 0 to 100.</summary>
    public double Percent { get; init; } = 100;
}

/// <summary>A weighted target service of a route (canary splits).</summary>
/// <param name="Service">The target service's name.</param>
/// <param name="Weight">Relative share of requests; 0 sends none.</param>
public sealed record BackendRef(string Service, int Weight = 1);
