namespace Mesh.Config;

/// <summary>
/// One entry of a rule's <c>matches</c>: a request matches when it satisfies every condition
/// here (Gateway API's HTTPRouteMatch).
/// </summary>
public sealed record RouteMatch
{
    /// <summary>Default: every path (a PathPrefix of /).</summary>
    public PathMatch Path { get; init; } = PathMatch.AnyPath;

    /// <summary>An upper-case HTTP method such as GET, or null for any method.</summary>
    public string? Method { get; init; }

    /// <summary>Conditions on request headers, all of which must hold; header names are case-insensitive.</summary>
    public ValueList<HeaderMatch> Headers { get; init; } = [];

    /// <summary>Conditions on query parameters, all of which must hold; names are case-sensitive.</summary>
    public ValueList<QueryParamMatch> QueryParams { get; init; } = [];
}

/// <summary>A condition on the request path, without its query.</summary>
/// <param name="Value">
/// For <see cref="PathMatchType.Exact"/> and <see cref="PathMatchType.PathPrefix"/>, a path starting
/// with '/'; for <see cref="PathMatchType.RegularExpression"/>, a pattern for <see cref="RouteRegex.Create"/>.
/// </param>
public sealed record PathMatch(PathMatchType Type, string Value)
{
    /// <summary>A PathPrefix of /, which every path matches.</summary>
    public static PathMatch AnyPath { get; } = new(PathMatchType.PathPrefix, "/");
}

public enum PathMatchType
{
    /// <summary>The path equals the value.</summary>
    Exact,

    /// <summary>
    /// The path starts with the value, element by element as in Gateway API: /api matches /api and
    /// /api/v1 but not /apis. A trailing '/' in the value is ignored.
    /// </summary>
    PathPrefix,

    /// <summary>The whole path matches the pattern.</summary>
    RegularExpression,
}

/// <summary>A condition on a request header.</summary>
/// <param name="Name">Matched case-insensitively.</param>
public sealed record HeaderMatch(string Name, string Value)
{
    public StringMatchType Type { get; init; } = StringMatchType.Exact;
}

/// <summary>A condition on a query parameter.</summary>
/// <param name="Name">Matched case-sensitively.</param>
public sealed record QueryParamMatch(string Name, string Value)
{
    public StringMatchType Type { get; init; } = StringMatchType.Exact;
}

public enum StringMatchType
{
    /// <summary>The value equals the given one, case-sensitively.</summary>
    Exact,

    /// <summary>The whole value matches the pattern (see <see cref="RouteRegex"/>).</summary>
    RegularExpression,
}
