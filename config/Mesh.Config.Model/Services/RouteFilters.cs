using System.Text.Json.Serialization;

namespace Mesh.Config;

/// <summary>
/// One entry of a rule's <c>filters</c>, as in Gateway API's HTTPRouteFilter: the <c>type</c>
/// decides which derived record it is. Consumers switch on the record type; JSON (the agent's pipe
/// to the proxy) names it in <c>type</c> as the file does.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(RequestHeaderModifierFilter), "RequestHeaderModifier")]
[JsonDerivedType(typeof(ResponseHeaderModifierFilter), "ResponseHeaderModifier")]
[JsonDerivedType(typeof(UrlRewriteFilter), "URLRewrite")]
[JsonDerivedType(typeof(RequestRedirectFilter), "RequestRedirect")]
[JsonDerivedType(typeof(RequestMirrorFilter), "RequestMirror")]
public abstract record RouteFilter;

/// <summary><c>type: RequestHeaderModifier</c>: changes the request's headers before it is sent on.</summary>
public sealed record RequestHeaderModifierFilter(HeaderModifier Headers) : RouteFilter;

/// <summary><c>type: ResponseHeaderModifier</c>: changes the response's headers before the client gets it.</summary>
public sealed record ResponseHeaderModifierFilter(HeaderModifier Headers) : RouteFilter;

/// <summary><c>type: URLRewrite</c>: changes the host and/or path of the request sent on; the client sees nothing.</summary>
public sealed record UrlRewriteFilter : RouteFilter
{
    /// <summary>The new Host header, or null to keep it.</summary>
    public string? Hostname { get; init; }

    /// <summary>The new path, or null to keep it.</summary>
    public PathModifier? Path { get; init; }
}

/// <summary><c>type: RequestRedirect</c>: answers with a redirect to the request's URL with these parts replaced.</summary>
public sealed record RequestRedirectFilter : RouteFilter
{
    /// <summary>http or https, or null to keep the request's.</summary>
    public string? Scheme { get; init; }

    public string? Hostname { get; init; }

    /// <summary>Null: the request's port, or the scheme's well-known port when the scheme changes (Gateway API).</summary>
    public int? Port { get; init; }

    public PathModifier? Path { get; init; }

    /// <summary>301, 302, 303, 307 or 308; 302 by default, as in Gateway API.</summary>
    public int StatusCode { get; init; } = 302;
}

/// <summary><c>type: RequestMirror</c>: also sends a copy of each request to another service and ignores its response.</summary>
/// <param name="BackendName">A service in the file.</param>
public sealed record RequestMirrorFilter(string BackendName) : RouteFilter
{
    /// <summary>The share of requests copied, 0..100; 100 by default.</summary>
    public double Percent { get; init; } = 100;
}

/// <summary>Gateway API's HTTPHeaderFilter: applied as remove, then set, then add.</summary>
public sealed record HeaderModifier
{
    /// <summary>Headers replaced, or added when absent.</summary>
    public ValueList<HttpHeader> Set { get; init; } = [];

    /// <summary>Headers appended to any value already there.</summary>
    public ValueList<HttpHeader> Add { get; init; } = [];

    /// <summary>Names of headers removed, case-insensitively.</summary>
    public ValueList<string> Remove { get; init; } = [];
}

public sealed record HttpHeader(string Name, string Value);

/// <summary>How a rewrite or redirect changes the path.</summary>
/// <param name="Value">The full path, or the prefix that replaces the matched PathPrefix; starts with '/'.</param>
public sealed record PathModifier(PathModifierType Type, string Value);

public enum PathModifierType
{
    /// <summary>The path becomes the value.</summary>
    ReplaceFullPath,

    /// <summary>
    /// The part of the path that the rule's PathPrefix matched becomes the value (/api/x with
    /// prefix /api and value /v2 becomes /v2/x). Only for rules whose matches are all PathPrefix.
    /// </summary>
    ReplacePrefixMatch,
}
