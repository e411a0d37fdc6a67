namespace Mesh.Config.Binding;

/// <summary>
/// Finds rules and matches that can never be used because rules are tried in order: an earlier
/// rule takes every request they would. A match is taken by an earlier one when that one asks
/// for no more than it does: a path it covers, the same method or none, and a subset of its
/// header and query conditions. Regular expressions are only compared as equal text.
/// </summary>
internal static class RuleReachability
{
    /// <param name="path">The rules' path, such as <c>services[0].rules</c>.</param>
    public static void Check(IReadOnlyList<BoundItem<BoundRule>> rules, string path, ConfigErrorList errors)
    {
        var earlier = new List<(int Index, BoundItem<BoundRule> Rule)>();
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (!rule.IsValid)
            {
                continue;
            }
            var matches = MatchesOf(rule);
            var takenBy = matches.Select(m => earlier.FirstOrDefault(e => e.Rule.Item.Rule.Matches.Any(first => Covers(first, m.Match)))).ToList();
            var rulePath = $"{path}[{i}]";

            if (takenBy.All(t => t.Rule.Node is not null))
            {
                var first = takenBy[0];
                var by = takenBy.All(t => t.Index == first.Index) ? $"{Describe(rules, first.Index, path)} (line {first.Rule.Node.Line}) takes" : "earlier rules take";
                errors.Add(rule.Node, $"{Describe(rules, i, path)} can never match: {by} every request it would, since rules are tried in order; move it above, or remove it");
            }
            else
            {
                for (var k = 0; k < matches.Count; k++)
                {
                    var matchPath = $"'{rulePath}.matches[{k}]'";
                    if (takenBy[k].Rule.Node is { } shadow)
                    {
                        errors.Add(matches[k].Node, $"{matchPath} can never match: {Describe(rules, takenBy[k].Index, path)} (line {shadow.Line}) takes every request it would, since rules are tried in order; remove it, or move the rule above that one");
                        continue;
                    }
                    for (var l = 0; l < k; l++)
                    {
                        if (Covers(matches[l].Match, matches[k].Match))
                        {
                            errors.Add(matches[k].Node, $"{matchPath} adds nothing: 'matches[{l}]' (line {matches[l].Node.Line}) already matches every request it does; remove it");
                            break;
                        }
                    }
                }
            }
            earlier.Add((i, rule));
        }
    }

    /// <summary>Whether every request that <paramref name="later"/> matches also matches <paramref name="first"/>.</summary>
    public static bool Covers(RouteMatch first, RouteMatch later) =>
        Covers(first.Path, later.Path)
        && (first.Method is null || first.Method == later.Method)
        && first.Headers.All(h => later.Headers.Any(o => string.Equals(h.Name, o.Name, StringComparison.OrdinalIgnoreCase) && h.Type == o.Type && h.Value == o.Value))
        && first.QueryParams.All(q => later.QueryParams.Contains(q));

    private static bool Covers(PathMatch first, PathMatch later)
    {
        switch (first.Type)
        {
            case PathMatchType.PathPrefix:
                var prefix = Prefix(first.Value);
                if (prefix.Length == 0)
                {
                    return true;
                }
                if (later.Type == PathMatchType.RegularExpression)
                {
                    return false;
                }
                var other = later.Type == PathMatchType.PathPrefix ? Prefix(later.Value) : later.Value;
                return other == prefix || other.StartsWith(prefix + "/", StringComparison.Ordinal);
            default:
                return later.Type == first.Type && later.Value == first.Value;
        }
    }

    /// <summary>A PathPrefix value without its trailing '/', which Gateway API ignores; "" for /.</summary>
    private static string Prefix(string value) => value.TrimEnd('/');

    private static List<(RouteMatch Match, Syntax.ConfigNode Node)> MatchesOf(BoundItem<BoundRule> rule) =>
        rule.Item.Matches is { Count: > 0 } matches
            ? [.. matches.Select(m => (m.Item, m.Node))]
            : [(new RouteMatch(), rule.Node)];

    private static string Describe(IReadOnlyList<BoundItem<BoundRule>> rules, int index, string path) =>
        rules[index].Item.Rule.Name is { } name ? $"rule '{name}' ('{path}[{index}]')" : $"'{path}[{index}]'";
}
