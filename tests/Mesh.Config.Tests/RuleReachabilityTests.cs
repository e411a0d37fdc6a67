using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>
/// Rules are tried in order, so a rule or match that an earlier rule always takes first can never
/// be used; such dead rules are reported, and rules that only overlap are not.
/// </summary>
public class RuleReachabilityTests
{
    [Fact]
    public void Parse_CatchAllRuleFirst_ReportsEveryLaterRule()
    {
        var errors = Errors(Rules(
            "- name: all",
            "- name: admin\n  matches: [{ path: { type: PathPrefix, value: /admin } }]",
            "- matches: [{ method: GET }]"));

        Assert.Collection(errors,
            e => AssertError(e, 7, 9, "rule 'admin' ('services[0].rules[1]') can never match: rule 'all' ('services[0].rules[0]') (line 6) takes every request it would",
                "rules are tried in order; move it above, or remove it"),
            e => AssertError(e, 9, 9, "'services[0].rules[2]' can never match: rule 'all'"));
    }

    [Fact]
    public void Parse_CatchAllRuleLast_IsValid()
    {
        Valid(Rules(
            "- name: admin\n  matches: [{ path: { type: PathPrefix, value: /admin } }]",
            "- name: all"));
    }

    [Fact]
    public void Parse_IdenticalMatchInTwoRules_ReportsSecondRule()
    {
        var error = SingleError(Rules(
            "- matches: [{ path: { type: Exact, value: /a }, method: GET }]",
            "- matches: [{ method: GET, path: { type: Exact, value: /a } }]"));

        AssertError(error, 7, 9, "'services[0].rules[1]' can never match: 'services[0].rules[0]' (line 6)");
    }

    [Fact]
    public void Parse_IdenticalMatchTwiceInOneRule_ReportsSecondMatch()
    {
        var error = SingleError(Rules("- matches:\n    - path: { value: /a }\n    - path: { value: /a/ }"));

        AssertError(error, 8, 13, "'services[0].rules[0].matches[1]' adds nothing: 'matches[0]' (line 7) already matches every request it does; remove it");
    }

    [Fact]
    public void Parse_OneMatchOfRuleTakenByEarlierRule_ReportsThatMatch()
    {
        var error = SingleError(Rules(
            "- name: api\n  matches: [{ path: { type: PathPrefix, value: /api } }]",
            "- name: mixed\n  matches:\n    - path: { type: Exact, value: /api/v1/items }\n    - path: { type: PathPrefix, value: /shop }"));

        AssertError(error, 10, 13, "'services[0].rules[1].matches[0]' can never match: rule 'api' ('services[0].rules[0]') (line 6)", "remove it");
    }

    [Fact]
    public void Parse_MatchesTakenBySeveralEarlierRules_ReportsRuleAgainstEarlierRules()
    {
        var error = SingleError(Rules(
            "- matches: [{ path: { value: /a } }]",
            "- matches: [{ path: { value: /b } }]",
            "- matches: [{ path: { value: /a/x } }, { path: { value: /b/y } }]"));

        AssertError(error, 8, 9, "'services[0].rules[2]' can never match: earlier rules take every request it would");
    }

    [Theory]
    [InlineData("{ path: { value: /api } }", "{ path: { value: /apis } }")]
    [InlineData("{ path: { type: Exact, value: /api } }", "{ path: { value: /api } }")]
    [InlineData("{ path: { value: /api/v1 } }", "{ path: { value: /api } }")]
    [InlineData("{ method: GET }", "{ method: POST }")]
    [InlineData("{ method: GET }", "{ path: { value: /a } }")]
    [InlineData("{ headers: [{ name: a, value: b }] }", "{ headers: [{ name: a, value: c }] }")]
    [InlineData("{ headers: [{ name: a, value: b }] }", "{ path: { value: /x } }")]
    [InlineData("{ queryParams: [{ name: a, value: b }] }", "{ queryParams: [{ name: A, value: b }] }")]
    [InlineData("{ path: { type: RegularExpression, value: '/a.*' } }", "{ path: { value: /a } }")]
    [InlineData("{ path: { type: RegularExpression, value: '/a.*' } }", "{ path: { type: RegularExpression, value: '/a.+' } }")]
    [InlineData("{ headers: [{ name: a, value: b, type: RegularExpression }] }", "{ headers: [{ name: a, value: b }] }")]
    public void Parse_EarlierMatchNarrowerOrDifferent_IsValid(string first, string later)
    {
        Valid(Rules($"- matches: [{first}]", $"- matches: [{later}]"));
    }

    [Theory]
    [InlineData("{ path: { value: / } }", "{ path: { type: RegularExpression, value: '/a.*' } }")]
    [InlineData("{ path: { value: /api/ } }", "{ path: { type: Exact, value: /api } }")]
    [InlineData("{ path: { value: /api } }", "{ path: { value: /api/v1 }, method: GET }")]
    [InlineData("{ method: GET }", "{ method: GET, path: { value: /a } }")]
    [InlineData("{ headers: [{ name: x-env, value: b }] }", "{ headers: [{ name: X-ENV, value: b }, { name: c, value: d }] }")]
    [InlineData("{ queryParams: [{ name: a, value: b }] }", "{ queryParams: [{ name: a, value: b }], method: PUT }")]
    [InlineData("{ path: { type: RegularExpression, value: '/a.*' } }", "{ path: { type: RegularExpression, value: '/a.*' }, method: GET }")]
    public void Parse_EarlierMatchWiderThanLaterRule_ReportsLaterRule(string first, string later)
    {
        AssertError(SingleError(Rules($"- matches: [{first}]", $"- matches: [{later}]")), 7, 9, "'services[0].rules[1]' can never match");
    }

    [Fact]
    public void Parse_RuleWithMistake_IsLeftOutOfReachabilityCheck()
    {
        // The first rule's method is wrong; its match must not be taken as "every method" and hide the second rule.
        var error = SingleError(Rules("- matches: [{ method: get }]", "- matches: [{ method: GET }]"));

        AssertError(error, 6, 29, "'services[0].rules[0].matches[0].method' is 'get'");
    }

    /// <summary>The service 'catalog' with these rules, each a '- ...' item written at column 7 from line 6.</summary>
    private static string Rules(params string[] rules) =>
        "services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    rules:\n"
        + string.Concat(rules.Select(rule => string.Concat(rule.Split('\n').Select(line => $"      {line}\n"))));
}
