using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one entry of a rule's <c>matches</c> (Gateway API's HTTPRouteMatch) and its path, header and query conditions.</summary>
internal sealed class MatchBinder
{
    private static readonly (string, PathMatchType)[] PathTypes =
        [("PathPrefix", PathMatchType.PathPrefix), ("Exact", PathMatchType.Exact), ("RegularExpression", PathMatchType.RegularExpression)];

    private static readonly (string, StringMatchType)[] ValueTypes =
        [("Exact", StringMatchType.Exact), ("RegularExpression", StringMatchType.RegularExpression)];

    /// <summary>Gateway API's HTTPMethod values.</summary>
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

    private readonly MappingBinder<RouteMatch> _match;
    private readonly MappingBinder<PathMatch> _path;
    private readonly MappingBinder<HeaderMatch> _header;
    private readonly MappingBinder<QueryParamMatch> _queryParam;

    public MatchBinder()
    {
        _path = new(
        [
            new("type", (match, value, path, errors) =>
                ScalarValues.ReadWord(value, path, PathTypes, errors) is { } type ? match with { Type = type } : match),
            new("value", (match, value, path, errors) =>
                ScalarValues.ReadText(value, path, "a path", "/api", errors) is { } text ? match with { Value = text } : match),
        ]);

        _header = new(
        [
            new("name", (header, value, path, errors) =>
                ScalarValues.ReadHeaderName(value, path, errors) is { } name ? header with { Name = name } : header, Required: "name: x-env"),
            new("value", (header, value, path, errors) =>
                ScalarValues.ReadHeaderValue(value, path, errors) is { } text ? header with { Value = text } : header, Required: "value: canary"),
            new("type", (header, value, path, errors) =>
                ScalarValues.ReadWord(value, path, ValueTypes, errors) is { } type ? header with { Type = type } : header),
        ], IstioMatchHints);

        _queryParam = new(
        [
            new("name", (param, value, path, errors) =>
                ScalarValues.ReadHeaderName(value, path, errors) is { } name ? param with { Name = name } : param, Required: "name: debug"),
            new("value", (param, value, path, errors) =>
                ScalarValues.ReadHeaderValue(value, path, errors) is { } text ? param with { Value = text } : param, Required: "value: \"1\""),
            new("type", (param, value, path, errors) =>
                ScalarValues.ReadWord(value, path, ValueTypes, errors) is { } type ? param with { Type = type } : param),
        ], IstioMatchHints);

        _match = new(
        [
            new("path", (match, value, path, errors) => match with { Path = BindPath(value, path, errors) }),
            new("method", (match, value, path, errors) =>
                ScalarValues.ReadWord(value, path, [.. Methods.Select((m, i) => (m, i))], errors) is { } i ? match with { Method = Methods[i] } : match),
            new("headers", (match, value, path, errors) => match with { Headers = BindHeaders(value, path, errors) }),
            new("queryParams", (match, value, path, errors) => match with { QueryParams = BindQueryParams(value, path, errors) }),
        ], new Dictionary<string, string>
        {
            ["uri"] = "write 'path: { type: PathPrefix, value: /api }' as in Gateway API (Istio's prefix, exact and regex are PathPrefix, Exact and RegularExpression)",
            ["queryParameters"] = "write 'queryParams', as in Gateway API",
            ["ignoreUriCase"] = "paths match case-sensitively, as in Gateway API; match the other spellings with a RegularExpression path",
        });
    }

    private static Dictionary<string, string> IstioMatchHints => new()
    {
        ["exact"] = "write 'value: ...' (and 'type: Exact', the default), as in Gateway API",
        ["regex"] = "write 'type: RegularExpression' and 'value: ...', as in Gateway API",
    };

    public RouteMatch Bind(ConfigNode node, string path, ConfigErrorList errors) => _match.Bind(node, new RouteMatch(), path, errors);

    private PathMatch BindPath(ConfigNode node, string path, ConfigErrorList errors)
    {
        if (node is ScalarNode { IsNull: false } shorthand)
        {
            errors.Add(node, $"'{path}' expects a mapping with the keys type, value, but found {node.Description}; write 'path: {{ type: PathPrefix, value: {shorthand.Value} }}' (or type Exact or RegularExpression)");
            return PathMatch.AnyPath;
        }
        var before = errors.Count;
        var match = _path.Bind(node, PathMatch.AnyPath, path, errors);
        if (errors.Count == before && node is MappingNode mapping && mapping.Find("value")?.Value is ScalarNode value)
        {
            var valuePath = $"{path}.value";
            if (match.Type == PathMatchType.RegularExpression)
            {
                ScalarValues.ReadRegex(value, valuePath, "'/api/v[0-9]+/.*'", errors);
            }
            else
            {
                CheckPath(value, valuePath, errors);
            }
        }
        return match;
    }

    /// <summary>Gateway API's rules for Exact and PathPrefix values: an absolute path, already normalised, without query or fragment.</summary>
    internal static void CheckPath(ScalarNode value, string path, ConfigErrorList errors)
    {
        var text = value.Value;
        string? problem = null;
        if (!text.StartsWith('/'))
        {
            problem = $"a path starts with '/'; write '/{text}'";
        }
        else if (text.IndexOfAny(['?', '#']) is var at and >= 0)
        {
            problem = $"a path match cannot contain '{text[at]}'; match query parameters under 'queryParams' instead, and write the path alone";
        }
        else if (text.Contains("//", StringComparison.Ordinal) || text.Contains("/./", StringComparison.Ordinal) || text.Contains("/../", StringComparison.Ordinal)
            || text.EndsWith("/.", StringComparison.Ordinal) || text.EndsWith("/..", StringComparison.Ordinal)
            || text.Contains("%2f", StringComparison.OrdinalIgnoreCase))
        {
            problem = "requests are matched on normalised paths, so one with '//', '/./', '/../' or '%2F' never matches; write the path in normalised form";
        }
        if (problem is not null)
        {
            errors.Add(value, $"'{path}' is '{text}', but {problem}");
        }
    }

    private ValueList<HeaderMatch> BindHeaders(ConfigNode node, string path, ConfigErrorList errors)
    {
        var items = ListValues.Bind(node, path, "- { name: x-env, value: canary }", (item, itemPath) =>
        {
            var before = errors.Count;
            var header = _header.Bind(item, new HeaderMatch("", ""), itemPath, errors);
            CheckRegex(item, header.Type, itemPath, errors, before);
            return header;
        }, errors);
        ListValues.ReportDuplicates(items, h => h.Name, StringComparer.OrdinalIgnoreCase,
            (name, first) => $"duplicate header '{name}' in '{path}', first at line {first.Node.Line} (header names are case-insensitive); "
                + "Gateway API uses only the first, so merge the two into one condition",
            errors, at: NameNode);
        return ValueList.From(items.Select(i => i.Item));
    }

    private ValueList<QueryParamMatch> BindQueryParams(ConfigNode node, string path, ConfigErrorList errors)
    {
        var items = ListValues.Bind(node, path, "- { name: debug, value: \"1\" }", (item, itemPath) =>
        {
            var before = errors.Count;
            var param = _queryParam.Bind(item, new QueryParamMatch("", ""), itemPath, errors);
            CheckRegex(item, param.Type, itemPath, errors, before);
            return param;
        }, errors);
        ListValues.ReportDuplicates(items, q => q.Name, StringComparer.Ordinal,
            (name, first) => $"duplicate query parameter '{name}' in '{path}', first at line {first.Node.Line}; "
                + "Gateway API uses only the first, so merge the two into one condition",
            errors, at: NameNode);
        return ValueList.From(items.Select(i => i.Item));
    }

    private static void CheckRegex(ConfigNode item, StringMatchType type, string path, ConfigErrorList errors, int errorsBefore)
    {
        if (type == StringMatchType.RegularExpression && errors.Count == errorsBefore && item is MappingNode mapping && mapping.Find("value")?.Value is { } value)
        {
            ScalarValues.ReadRegex(value, $"{path}.value", "'canary-[0-9]+'", errors);
        }
    }

    private static ConfigNode NameNode<T>(BoundItem<T> item) => (item.Node as MappingNode)?.Find("name")?.Value ?? item.Node;
}
