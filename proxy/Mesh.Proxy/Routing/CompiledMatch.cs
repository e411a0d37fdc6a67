using System.Text.RegularExpressions;
using Mesh.Config;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>A <see cref="RouteMatch"/> prepared once per config version: regexes compiled, prefixes normalized.</summary>
internal sealed class CompiledMatch
{
    private readonly PathMatchType _pathType;
    private readonly string _pathValue = "";
    private readonly Regex? _pathRegex;
    private readonly string? _method;
    private readonly ValueCondition[] _headers;
    private readonly ValueCondition[] _query;

    public CompiledMatch(RouteMatch match)
    {
        var path = match.Path;
        _pathType = path.Type;
        switch (path.Type)
        {
            case PathMatchType.Exact:
                _pathValue = path.Value;
                break;
            case PathMatchType.PathPrefix:
                // "/api/" and "/api" are the same prefix; "/" becomes "" and matches every path.
                _pathValue = path.Value.TrimEnd('/');
                break;
            case PathMatchType.RegularExpression:
                _pathRegex = RouteRegex.Create(path.Value);
                break;
        }

        _method = match.Method;
        _headers = [.. match.Headers.Select(h => new ValueCondition(h.Name, h.Type, h.Value))];
        _query = [.. match.QueryParams.Select(q => new ValueCondition(q.Name, q.Type, q.Value))];
    }

    /// <summary>The normalized prefix of a PathPrefix match (for ReplacePrefixMatch), or null.</summary>
    public string? Prefix => _pathType == PathMatchType.PathPrefix ? _pathValue : null;

    public bool IsMatch(HttpRequest request)
    {
        if (_method is not null && !string.Equals(request.Method, _method, StringComparison.Ordinal))
        {
            return false;
        }

        if (!PathMatches(_pathType, request.Path.Value ?? "/"))
        {
            return false;
        }

        foreach (var header in _headers)
        {
            // Several values of one header are one comma-joined field value (RFC 9110 §5.3).
            if (!request.Headers.TryGetValue(header.Name, out var values) || !header.Matches(values.ToString()))
            {
                return false;
            }
        }

        foreach (var param in _query)
        {
            if (!QueryMatches(request.Query, param))
            {
                return false;
            }
        }

        return true;
    }

    private bool PathMatches(PathMatchType type, string path) => type switch
    {
        PathMatchType.Exact => string.Equals(path, _pathValue, StringComparison.Ordinal),
        PathMatchType.PathPrefix => _pathValue.Length == 0
            || (path.StartsWith(_pathValue, StringComparison.Ordinal)
                && (path.Length == _pathValue.Length || path[_pathValue.Length] == '/')),
        _ => _pathRegex!.IsMatch(path),
    };

    private static bool QueryMatches(IQueryCollection query, ValueCondition param)
    {
        // IQueryCollection is case-insensitive; query names are case-sensitive in the Gateway API, so compare the
        // name as received.
        foreach (var (name, values) in query)
        {
            if (string.Equals(name, param.Name, StringComparison.Ordinal))
            {
                foreach (var value in values)
                {
                    if (value is not null && param.Matches(value))
                    {
                        return true;
                    }
                }

                return false;
            }
        }

        return false;
    }

    private sealed class ValueCondition
    {
        private readonly string _exact;
        private readonly Regex? _pattern;

        public ValueCondition(string name, StringMatchType type, string value)
        {
            Name = name;
            _exact = value;
            _pattern = type == StringMatchType.RegularExpression ? RouteRegex.Create(value) : null;
        }

        public string Name { get; }

        public bool Matches(string value) =>
            _pattern?.IsMatch(value) ?? string.Equals(value, _exact, StringComparison.Ordinal);
    }
}
