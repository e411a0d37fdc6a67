using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one entry of a rule's <c>filters</c> (Gateway API's HTTPRouteFilter) into its <see cref="RouteFilter"/>.</summary>
internal sealed class FilterBinder
{
    public const string RequestHeaderModifier = "RequestHeaderModifier";
    public const string ResponseHeaderModifier = "ResponseHeaderModifier";
    public const string UrlRewrite = "URLRewrite";
    public const string RequestRedirect = "RequestRedirect";
    public const string RequestMirror = "RequestMirror";

    /// <summary>The types and the key beside <c>type</c> each one's settings go under.</summary>
    public static readonly (string Type, string Key)[] Types =
    [
        (RequestHeaderModifier, "requestHeaderModifier"),
        (ResponseHeaderModifier, "responseHeaderModifier"),
        (UrlRewrite, "urlRewrite"),
        (RequestRedirect, "requestRedirect"),
        (RequestMirror, "requestMirror"),
    ];

    private static readonly string[] Unsupported = ["ExtensionRef", "CORS", "ExternalAuth"];

    private static readonly (string, int)[] RedirectCodes = [("301", 301), ("302", 302), ("303", 303), ("307", 307), ("308", 308)];

    private static readonly (string, string)[] Schemes = [("http", "http"), ("https", "https")];

    private readonly MappingBinder<Dictionary<string, RouteFilter?>> _filter;
    private readonly MappingBinder<UrlRewriteFilter> _rewrite;
    private readonly MappingBinder<RequestRedirectFilter> _redirect;
    private readonly MappingBinder<RequestMirrorFilter> _mirror;
    private readonly MappingBinder<string> _mirrorBackend;
    private readonly HeaderModifierBinder _headers = new();
    private readonly PathModifierBinder _pathModifier = new();

    public FilterBinder(ServiceDirectory services)
    {
        _rewrite = new(
        [
            new("hostname", (rewrite, value, path, errors) =>
                ScalarValues.ReadHostname(value, path, errors) is { } host ? rewrite with { Hostname = host } : rewrite),
            new("path", (rewrite, value, path, errors) => rewrite with { Path = _pathModifier.Bind(value, path, errors) }),
        ]);

        _redirect = new(
        [
            new("scheme", (redirect, value, path, errors) =>
                ScalarValues.ReadWord(value, path, [.. Schemes.Select((s, i) => (s.Item1, i))], errors) is { } i ? redirect with { Scheme = Schemes[i].Item2 } : redirect),
            new("hostname", (redirect, value, path, errors) =>
                ScalarValues.ReadHostname(value, path, errors) is { } host ? redirect with { Hostname = host } : redirect),
            new("port", (redirect, value, path, errors) =>
                ScalarValues.ReadInteger(value, path, 1, 65535, "443", errors) is { } port ? redirect with { Port = port } : redirect),
            new("path", (redirect, value, path, errors) => redirect with { Path = _pathModifier.Bind(value, path, errors) }),
            new("statusCode", (redirect, value, path, errors) =>
                ScalarValues.ReadWord(value, path, RedirectCodes, errors) is { } code ? redirect with { StatusCode = code } : redirect),
        ]);

        _mirrorBackend = new(
        [
            new("name", (name, value, path, errors) =>
                ScalarValues.ReadScalar(value, path, "a service name", "catalog-shadow", errors) is { IsNull: false } scalar
                    && services.Find(scalar, path, "requests cannot be copied to it", errors) is not null
                        ? scalar.Value
                        : name,
                Required: "name: catalog-shadow"),
            new("port", (name, value, path, errors) => name),
        ], new Dictionary<string, string>
        {
            ["namespace"] = "backends are services of this file, which have no namespace; remove it",
        });

        _mirror = new(
        [
            new("backendRef", (mirror, value, path, errors) =>
            {
                var name = _mirrorBackend.Bind(value, "", path, errors);
                BackendRefBinder.CheckPort(value, name, path, services, errors);
                return name.Length > 0 ? mirror with { BackendName = name } : mirror;
            }, Required: "backendRef: { name: catalog-shadow }"),
            new("percent", (mirror, value, path, errors) =>
                ScalarValues.ReadPercent(value, path, errors) is { } percent ? mirror with { Percent = percent } : mirror),
        ], new Dictionary<string, string>
        {
            ["fraction"] = "write 'percent' with a number from 0 to 100",
        });

        _filter = new(
        [
            new("type", (filter, value, path, errors) => filter),
            Settings("requestHeaderModifier", (value, path, errors) => _headers.Bind(value, path, errors) is { } h ? new RequestHeaderModifierFilter(h) : null),
            Settings("responseHeaderModifier", (value, path, errors) => _headers.Bind(value, path, errors) is { } h ? new ResponseHeaderModifierFilter(h) : null),
            Settings("urlRewrite", BindRewrite),
            Settings("requestRedirect", BindRedirect),
            Settings("requestMirror", (value, path, errors) => _mirror.Bind(value, new RequestMirrorFilter(""), path, errors)),
        ], new Dictionary<string, string>
        {
            ["extensionRef"] = $"Mesh does not support ExtensionRef filters; use one of {string.Join(", ", Types.Select(t => t.Type))}",
        });
    }

    /// <summary>The filter, or null when it is not valid enough to say which filter it is (already reported).</summary>
    public RouteFilter? Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var settings = _filter.Bind(node, [], path, errors);
        if (TypedMapping.CheckType(node, path, Types, Unsupported, errors) is not { } key)
        {
            return null;
        }
        return settings.GetValueOrDefault(key);
    }

    private static ConfigKey<Dictionary<string, RouteFilter?>> Settings(string key, Func<ConfigNode, string, ConfigErrorList, RouteFilter?> bind) =>
        new(key, (filter, value, path, errors) =>
        {
            filter[key] = bind(value, path, errors);
            return filter;
        });

    private UrlRewriteFilter? BindRewrite(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var rewrite = _rewrite.Bind(node, new UrlRewriteFilter(), path, errors);
        if (errors.Count == before && rewrite is { Hostname: null, Path: null })
        {
            errors.Add(node, $"'{path}' changes nothing; set 'hostname' and/or 'path', or remove the filter");
        }
        return rewrite;
    }

    private RequestRedirectFilter? BindRedirect(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var redirect = _redirect.Bind(node, new RequestRedirectFilter(), path, errors);
        if (errors.Count == before && redirect is { Scheme: null, Hostname: null, Port: null, Path: null })
        {
            errors.Add(node, $"'{path}' would send clients back to the URL they asked for, in a loop; set 'scheme', 'hostname', 'port' or 'path'");
        }
        return redirect;
    }
}
