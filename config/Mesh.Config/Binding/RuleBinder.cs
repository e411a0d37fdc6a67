using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>A bound rule, with its matches' nodes for the checks across rules; null when the rule gave no matches.</summary>
internal sealed record BoundRule(HttpRouteRule Rule, List<BoundItem<RouteMatch>>? Matches);

/// <summary>Binds one entry of a service's <c>rules</c> (Gateway API's HTTPRouteRule plus Mesh's policies).</summary>
internal sealed class RuleBinder
{
    private static readonly (string, RouteAction)[] Actions = [("allow", RouteAction.Allow), ("deny", RouteAction.Deny)];

    /// <summary>The keys that do nothing in a rule that answers 403 itself.</summary>
    private static readonly string[] NotWithDeny = ["filters", "backendRefs", "timeouts", "retry", "circuitBreaker", "rateLimit", "fault", "authorization"];

    /// <summary>The keys that do nothing in a rule that answers with a redirect: nothing is sent to a backend.</summary>
    private static readonly string[] NotWithRedirect = ["retry", "circuitBreaker"];

    private readonly MappingBinder<Draft> _rule;

    public RuleBinder(ServiceDirectory services)
    {
        var match = new MatchBinder();
        var filter = new FilterBinder(services);
        var backends = new BackendRefBinder(services);
        var timeouts = new TimeoutsBinder();
        var retry = new RetryPolicyBinder();
        var breaker = new CircuitBreakerBinder();
        var rateLimit = new RateLimitBinder();
        var fault = new FaultBinder();
        var authorization = new AuthorizationBinder(services);

        _rule = new(
        [
            new("name", (d, value, path, errors) =>
                d.With(r => ScalarValues.ReadName(value, path, "admin-deny", errors) is { } name ? r with { Name = name } : r)),
            new("matches", (d, value, path, errors) =>
            {
                d.Matches = ListValues.Bind(value, path, "- path: { type: PathPrefix, value: /api }", (item, itemPath) => match.Bind(item, itemPath, errors), errors);
                return d.Matches.Count == 0 ? d : d.With(r => r with { Matches = ValueList.From(d.Matches.Select(m => m.Item)) });
            }),
            new("action", (d, value, path, errors) =>
            {
                var action = ScalarValues.ReadWord(value, path, Actions, errors);
                d.ActionKnown = action is not null;
                return d.With(r => r with { Action = action ?? r.Action });
            }),
            new("denyReason", (d, value, path, errors) =>
                d.With(r => ScalarValues.ReadHeaderValue(value, path, errors) is { Length: > 0 } reason ? r with { DenyReason = reason } : r)),
            new("filters", (d, value, path, errors) =>
            {
                d.Filters = ListValues.Bind(value, path, "- type: RequestHeaderModifier", (item, itemPath) => filter.Bind(item, itemPath, errors), errors);
                return d.With(r => r with { Filters = d.Filters.Values() });
            }),
            new("backendRefs", (d, value, path, errors) => d.With(r => r with { BackendRefs = backends.Bind(value, path, errors) })),
            new("timeouts", (d, value, path, errors) => d.With(r => r with { Timeouts = timeouts.Bind(value, path, errors) })),
            new("retry", (d, value, path, errors) => d.With(r => r with { Retry = retry.Bind(value, path, errors) })),
            new("circuitBreaker", (d, value, path, errors) => d.With(r => r with { CircuitBreaker = breaker.Bind(value, path, errors) })),
            new("rateLimit", (d, value, path, errors) => d.With(r => r with { RateLimit = rateLimit.Bind(value, path, errors) })),
            new("fault", (d, value, path, errors) => d.With(r => r with { Fault = fault.Bind(value, path, errors) })),
            new("authorization", (d, value, path, errors) => d.With(r => r with { Authorization = authorization.Bind(value, path, errors) })),
        ], new Dictionary<string, string>
        {
            ["match"] = "write 'matches', as in Gateway API",
            ["route"] = "write 'backendRefs: [{ name: catalog-v1, weight: 80 }]', as in Gateway API",
            ["retries"] = "write 'retry', as in Gateway API",
            ["timeout"] = "write 'timeouts: { request: 5s }', as in Gateway API",
            ["mirror"] = "write a filter of 'type: RequestMirror' under 'filters', as in Gateway API",
            ["rewrite"] = "write a filter of 'type: URLRewrite' under 'filters', as in Gateway API",
            ["redirect"] = "write a filter of 'type: RequestRedirect' under 'filters', as in Gateway API",
            ["headers"] = "change headers with a filter of 'type: RequestHeaderModifier' under 'filters', or match them under 'matches'",
            ["outlierDetection"] = "write 'circuitBreaker'",
            ["corsPolicy"] = "Mesh does not support CORS; answer preflight requests in the service",
        });
    }

    /// <param name="node">The rule's node.</param>
    public BoundRule Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var draft = _rule.Bind(node, new Draft(), path, errors);
        if (node is ScalarNode { IsNull: true })
        {
            errors.Add(node, $"'{path}' is empty; write its 'matches' and what to do with them, such as '- matches: [{{ path: {{ type: PathPrefix, value: /api }} }}]'");
        }
        if (node is MappingNode mapping)
        {
            CheckCombinations(draft, mapping, path, errors);
        }
        return new BoundRule(draft.Rule, draft.Matches);
    }

    /// <summary>
    /// Keys that are each valid but together cannot work, or could never run. These depend on
    /// which keys are there, so they are checked even when a value elsewhere in the rule is wrong;
    /// each check only relies on the values that were read correctly.
    /// </summary>
    private static void CheckCombinations(Draft draft, MappingNode mapping, string path, ConfigErrorList errors)
    {
        var rule = draft.Rule;
        if (rule.Action == RouteAction.Deny)
        {
            foreach (var key in NotWithDeny)
            {
                if (mapping.Find(key) is { } entry)
                {
                    errors.Add(entry.Key, $"'{key}' would never apply: '{path}' denies, answering 403 itself without sending the request on; remove '{key}', or remove 'action: deny'");
                }
            }
        }
        else if (draft.ActionKnown && mapping.Find("denyReason") is { } reason)
        {
            errors.Add(reason.Key, $"'denyReason' is only sent by a rule with 'action: deny', which '{path}' is not; add 'action: deny', or remove 'denyReason'");
        }

        var filters = draft.Filters.Select((item, i) => (item, i)).Where(f => f.item.IsValid && f.item.Item is not null).ToList();
        var seenTypes = new Dictionary<Type, int>();
        foreach (var (item, i) in filters)
        {
            var type = item.Item!.GetType();
            if (type != typeof(RequestMirrorFilter) && !seenTypes.TryAdd(type, i))
            {
                errors.Add(item.Node, $"'{path}.filters[{i}]' is a second {TypeWord(item.Item)} filter, after 'filters[{seenTypes[type]}]'; Gateway API allows one of each type but RequestMirror, so merge the two");
            }
        }

        var redirect = filters.FirstOrDefault(f => f.item.Item is RequestRedirectFilter);
        if (redirect.item.Item is not null)
        {
            if (filters.FirstOrDefault(f => f.item.Item is UrlRewriteFilter) is { item.Item: not null } rewrite)
            {
                var later = rewrite.i > redirect.i ? rewrite : redirect;
                errors.Add(later.item.Node, $"'{path}' has both a RequestRedirect and a URLRewrite filter, which Gateway API forbids: a redirect sends the client elsewhere, so nothing is rewritten; keep one");
            }
            if (mapping.Find("backendRefs") is { } backends)
            {
                errors.Add(backends.Key, $"'backendRefs' would never be used: '{path}' redirects, answering the client itself, and Gateway API forbids the two together; remove 'backendRefs', or the RequestRedirect filter");
            }
            foreach (var key in NotWithRedirect)
            {
                if (mapping.Find(key) is { } entry)
                {
                    errors.Add(entry.Key, $"'{key}' would never apply: '{path}' redirects, so no request is sent to a backend; remove '{key}'");
                }
            }
        }

        foreach (var (item, i) in filters)
        {
            var (key, modifier) = item.Item switch
            {
                UrlRewriteFilter { Path: { } p } => ("urlRewrite", p),
                RequestRedirectFilter { Path: { } p } => ("requestRedirect", p),
                _ => ("", null),
            };
            if (modifier?.Type == PathModifierType.ReplacePrefixMatch
                && (draft.Matches is null || draft.Matches.All(m => m.IsValid))
                && rule.Matches.Select((m, k) => (m, k)).FirstOrDefault(x => x.m.Path.Type != PathMatchType.PathPrefix) is { m: not null } exact)
            {
                errors.Add(((MappingNode)item.Node).ValueAt(key, "path", "type") ?? item.Node,
                    $"'{path}.filters[{i}].{key}.path' replaces the matched prefix, but 'matches[{exact.k}]' is a {exact.m.Path.Type} match, which has no prefix; "
                    + "Gateway API allows ReplacePrefixMatch only when every match is a PathPrefix, so write 'type: ReplaceFullPath', or make the matches PathPrefix");
            }
        }
    }

    private static string TypeWord(RouteFilter filter) => filter switch
    {
        RequestHeaderModifierFilter => FilterBinder.RequestHeaderModifier,
        ResponseHeaderModifierFilter => FilterBinder.ResponseHeaderModifier,
        UrlRewriteFilter => FilterBinder.UrlRewrite,
        RequestRedirectFilter => FilterBinder.RequestRedirect,
        _ => FilterBinder.RequestMirror,
    };

    /// <summary>The rule being bound, with the lists the checks across keys need.</summary>
    private sealed class Draft
    {
        public HttpRouteRule Rule { get; private set; } = new();

        public List<BoundItem<RouteMatch>>? Matches { get; set; }

        /// <summary>False when 'action' is there but not a known word, so the rule's action is unknown.</summary>
        public bool ActionKnown { get; set; } = true;

        public List<BoundItem<RouteFilter?>> Filters { get; set; } = [];

        public Draft With(Func<HttpRouteRule, HttpRouteRule> change)
        {
            Rule = change(Rule);
            return this;
        }
    }
}
