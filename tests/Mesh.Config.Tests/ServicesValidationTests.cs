using static Mesh.Config.Tests.ConfigParsing;
using static Mesh.Config.Tests.ServicesBindingTests;

namespace Mesh.Config.Tests;

/// <summary>Mistakes in the <c>services</c> section: each reported at its line and column, with what to write instead.</summary>
public class ServicesValidationTests
{
    // --- services and their keys ---

    [Fact]
    public void Parse_ServicesNotAList_AsksForListItems()
    {
        var error = SingleError("services:\n  name: catalog\n");

        AssertError(error, 2, 3, "'services' expects a list, but found a mapping", "'- name: catalog'");
    }

    [Fact]
    public void Parse_ServiceWithoutRequiredKeys_NamesEachMissingKey()
    {
        var errors = Errors("services:\n  - name: catalog\n");

        Assert.Collection(errors,
            e => AssertError(e, 2, 5, "'services[0]' has no 'address'; add 'address: 127.0.0.10'"),
            e => AssertError(e, 2, 5, "'services[0]' has no 'port'; add 'port: 8080'"));
    }

    [Fact]
    public void Parse_EmptyServiceItem_SaysWhatItNeeds()
    {
        AssertError(SingleError("services:\n  -\n"), 2, 4, "'services[0]' is empty, but needs 'name', 'address', 'port'");
    }

    [Fact]
    public void Parse_RoutesInsteadOfRules_SaysGatewayApiSpelling()
    {
        var error = SingleError("services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    routes: []\n");

        Assert.Equal(new ConfigError(FileName, 5, 5,
            "unknown key 'routes' in 'services[0]'; write 'rules', as in a Gateway API HTTPRoute, whose spec.rules can be copied here"), error);
    }

    [Fact]
    public void Parse_MisspelledServiceKey_SuggestsClosestKey()
    {
        var error = SingleError("services:\n  - name: catalog\n    adress: 127.0.0.10\n    address: 127.0.0.10\n    port: 8080\n");

        Assert.Equal(new ConfigError(FileName, 3, 5, "unknown key 'adress' in 'services[0]'; did you mean 'address'?"), error);
    }

    [Theory]
    [InlineData("Catalog_1", "write 'catalog-1'")]
    [InlineData("-catalog", "such as catalog")]
    [InlineData("\"\"", "has no value")]
    public void Parse_ServiceNameNotDnsLabel_AsksForDnsLabel(string name, string fix)
    {
        var error = SingleError($"services:\n  - name: {name}\n    address: 127.0.0.10\n    port: 8080\n");

        AssertError(error, 2, 11, "'services[0].name'", fix);
    }

    [Fact]
    public void Parse_DuplicateServiceName_ReportsSecondWithFirstLine()
    {
        var error = SingleError("""
            services:
              - { name: catalog, address: 127.0.0.10, port: 8080 }
              - { name: catalog, address: 127.0.0.11, port: 8080 }
            """);

        AssertError(error, 3, 13, "duplicate service name 'catalog', first at line 2", "rename one");
    }

    [Theory]
    [InlineData("127.0.0.10")]
    [InlineData("\"::ffff:127.0.0.10\"")]
    public void Parse_DuplicateAddressAndPort_ReportsSecondAddress(string address)
    {
        var error = SingleError($$"""
            services:
              - { name: catalog, address: 127.0.0.10, port: 8080 }
              - { name: other, address: {{address}}, port: 8080 }
            """);

        AssertError(error, 3, 29, "127.0.0.10:8080 are already those of the service 'catalog' (line 2)", "another address or port");
    }

    [Fact]
    public void Parse_SameAddressOtherPort_IsValid()
    {
        Valid("services:\n  - { name: a, address: 127.0.0.10, port: 8080 }\n  - { name: b, address: 127.0.0.10, port: 8081 }\n");
    }

    [Theory]
    [InlineData("0", "must be from 1 to 65535")]
    [InlineData("65536", "must be from 1 to 65535")]
    [InlineData("http", "which is not a whole number")]
    [InlineData("80.5", "which is not a whole number")]
    public void Parse_BadPort_AsksForPortNumber(string port, string message)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: 127.0.0.10\n    port: {port}\n");

        AssertError(error, 4, 11, $"'services[0].port' is {(port.All(char.IsDigit) ? port : $"'{port}'")}", message, "8080");
    }

    [Theory]
    [InlineData("catalog.local", "which is a name, not an IP address")]
    [InlineData("10.1", "which is not an IPv4 or IPv6 address")]
    [InlineData("010.0.0.1", "which is not an IPv4 or IPv6 address")]
    [InlineData("256.0.0.1", "which is not an IPv4 or IPv6 address")]
    [InlineData("0.0.0.0", "which means 'any address'")]
    [InlineData("\"::\"", "which means 'any address'")]
    [InlineData("\"fe80::1%eth0\"", "which has a zone")]
    public void Parse_BadAddress_AsksForIpLiteral(string address, string message)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: {address}\n    port: 8080\n");

        AssertError(error, 3, 14, "'services[0].address'", message);
    }

    [Theory]
    [InlineData("127.0.0.1", "which has no port; write address:port, such as 127.0.0.1:8080")]
    [InlineData("\"::1:9002\"", "write the address in brackets, quoted: \"[::1]:9002\"")]
    [InlineData("\"[::1]\"", "which has no port after the ']'")]
    [InlineData("127.0.0.1:0", "has the port '0', but a port is a number from 1 to 65535")]
    [InlineData("localhost:80", "has the address 'localhost', which is a name")]
    public void Parse_BadEndpoint_AsksForAddressAndPort(string endpoint, params string[] parts)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    endpoints:\n      - {endpoint}\n");

        AssertError(error, 6, 9, ["'services[0].endpoints[0]'", .. parts]);
    }

    [Fact]
    public void Parse_UnquotedIpv6EndpointInFlowList_AsksForQuotes()
    {
        var error = SingleError("services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    endpoints: [127.0.0.1:9001, [::1]:9002]\n");

        AssertError(error, 5, 33, "'services[0].endpoints[1]' expects an endpoint, but found a mapping", "quote IPv6 ones with brackets: \"[::1]:9002\"");
    }

    [Fact]
    public void Parse_UnquotedIpv6EndpointInBlockList_ReportsSyntaxErrorAskingForQuotes()
    {
        var error = SingleError("services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    endpoints:\n      - [::1]:9002\n");

        AssertError(error, 6, 15, "invalid YAML", "quote values that contain", "'['");
    }

    [Fact]
    public void Parse_DuplicateEndpoint_ReportsSecond()
    {
        var error = SingleError("services:\n  - { name: catalog, address: 127.0.0.10, port: 8080, endpoints: [127.0.0.1:9001, \"[::ffff:127.0.0.1]:9001\"] }\n");

        AssertError(error, 2, 83, "the endpoint 127.0.0.1:9001 is already listed at line 2");
    }

    [Theory]
    [InlineData("10.0.0.1/8", "which has bits set after the prefix length; write 10.0.0.0/8")]
    [InlineData("10.0.0.0/33", "whose prefix length is not a number from 0 to 32")]
    [InlineData("10.0.0.0/x", "whose prefix length is not a number from 0 to 32")]
    [InlineData("\"fd00::1/64\"", "write fd00::/64")]
    [InlineData("net10/8", "has the address 'net10', which is a name")]
    public void Parse_BadCidr_AsksForNetwork(string cidr, string message)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    source:\n      cidrs: [{cidr}]\n");

        AssertError(error, 6, 15, "'services[0].source.cidrs[0]'", message);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{ cidrs: [] }")]
    public void Parse_SourceThatRecognisesNothing_AsksForCidrsOrCgroup(string source)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    source: {source}\n");

        AssertError(error, 5, 13, "'services[0].source' recognises no connection", "cidrs", "cgroup");
    }

    [Fact]
    public void Parse_RelativeSourceCgroup_AsksForAbsolutePath()
    {
        var error = SingleError("services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    source: { cgroup: batch.slice }\n");

        AssertError(error, 5, 23, "'services[0].source.cgroup' must be an absolute path");
    }

    [Theory]
    [InlineData("protocol: http2", 15, "'services[0].protocol' is 'http2', which is not one of http1, h2c, udp; did you mean 'http1'?")]
    [InlineData("failMode: Closed", 15, "'services[0].failMode' is 'Closed', which is not one of closed, open; write 'closed' (the case matters)")]
    [InlineData("default: reject", 14, "'services[0].default' is 'reject', which is not one of allow, deny; write one of allow, deny")]
    public void Parse_UnknownWord_ListsWords(string line, int column, string message)
    {
        var error = SingleError($"services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    {line}\n");

        Assert.Equal(new ConfigError(FileName, 5, column, message), error);
    }

    // --- rules and matches ---

    [Fact]
    public void Parse_IstioSpelledRuleKey_SaysGatewayApiSpelling()
    {
        AssertError(SingleError(OneRule("retries: { attempts: 3 }")), 6, 9, "unknown key 'retries' in 'services[0].rules[0]'; write 'retry'");
    }

    [Fact]
    public void Parse_EmptyRuleItem_AsksForMatches()
    {
        AssertError(SingleError("services:\n  - name: catalog\n    address: 127.0.0.10\n    port: 8080\n    rules:\n      -\n"), 6, 8,
            "'services[0].rules[0]' is empty; write its 'matches'");
    }

    [Fact]
    public void Parse_RuleNameNotDnsLabel_SuggestsLabel()
    {
        AssertError(SingleError(OneRule("name: Admin Deny")), 6, 15, "'services[0].rules[0].name' is 'Admin Deny', which is not a DNS label");
    }

    [Fact]
    public void Parse_DuplicateRuleName_ReportsSecond()
    {
        var error = SingleError(OneRule("name: a\n        matches: [{ path: { value: /a } }]\n      - name: a\n        matches: [{ path: { value: /b } }]"));

        AssertError(error, 8, 15, "duplicate rule name 'a' in 'services[0].rules', first at line 6", "rename one");
    }

    [Fact]
    public void Parse_InvalidPathRegex_ReportsDotNetMessageAtValue()
    {
        var error = SingleError(OneRule("matches: [{ path: { type: RegularExpression, value: '[a-' } }]"));

        AssertError(error, 6, 61, "'services[0].rules[0].matches[0].path.value' is not a valid regular expression: ", "Unterminated [] set", "fix the pattern");
    }

    [Fact]
    public void Parse_RegexWithBackreference_ReportsUnsupportedConstruct()
    {
        var error = SingleError(OneRule("matches: [{ headers: [{ name: a, value: '(x)\\1', type: RegularExpression }] }]"));

        AssertError(error, 6, 49, "'services[0].rules[0].matches[0].headers[0].value' is not a valid regular expression: ", "NonBacktracking", "backreferences");
    }

    [Fact]
    public void Parse_InvalidQueryParamRegex_ReportsAtValue()
    {
        var error = SingleError(OneRule("matches: [{ queryParams: [{ name: a, type: RegularExpression, value: '(' }] }]"));

        AssertError(error, 6, 78, "'services[0].rules[0].matches[0].queryParams[0].value' is not a valid regular expression");
    }

    [Theory]
    [InlineData("admin", "a path starts with '/'; write '/admin'")]
    [InlineData("/a?b=1", "cannot contain '?'")]
    [InlineData("/a//b", "normalised")]
    [InlineData("/a/../b", "normalised")]
    public void Parse_BadPathValue_SaysWhatPathsLookLike(string path, string message)
    {
        var error = SingleError(OneRule($"matches: [{{ path: {{ type: Exact, value: '{path}' }}}}]"));

        AssertError(error, 6, 49, "'services[0].rules[0].matches[0].path.value'", message);
    }

    [Fact]
    public void Parse_PathAsPlainString_ShowsGatewayApiShape()
    {
        var error = SingleError(OneRule("matches: [{ path: /admin }]"));

        AssertError(error, 6, 27, "'services[0].rules[0].matches[0].path' expects a mapping", "'path: { type: PathPrefix, value: /admin }'");
    }

    [Fact]
    public void Parse_UnknownPathType_SuggestsClosest()
    {
        var error = SingleError(OneRule("matches: [{ path: { type: Prefix, value: /a } }]"));

        AssertError(error, 6, 35, "'services[0].rules[0].matches[0].path.type' is 'Prefix', which is not one of PathPrefix, Exact, RegularExpression");
    }

    [Fact]
    public void Parse_LowerCaseMethod_AsksForUpperCase()
    {
        var error = SingleError(OneRule("matches: [{ method: get }]"));

        Assert.Equal(new ConfigError(FileName, 6, 29,
            "'services[0].rules[0].matches[0].method' is 'get', which is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH; write 'GET' (the case matters)"),
            error);
    }

    [Fact]
    public void Parse_DuplicateHeaderNameInOtherCase_ReportsSecondName()
    {
        var error = SingleError(OneRule("matches: [{ headers: [{ name: x-env, value: a }, { name: X-Env, value: b }] }]"));

        AssertError(error, 6, 66, "duplicate header 'X-Env'", "first at line 6", "merge the two");
    }

    [Fact]
    public void Parse_HeaderMatchWithoutValue_AsksForValue()
    {
        var error = SingleError(OneRule("matches: [{ headers: [{ name: x-env }] }]"));

        AssertError(error, 6, 31, "'services[0].rules[0].matches[0].headers[0]' has no 'value'; add 'value: canary'");
    }

    [Fact]
    public void Parse_HeaderNameWithColon_AsksForToken()
    {
        var error = SingleError(OneRule("matches: [{ headers: [{ name: 'x-env:', value: a }] }]"));

        AssertError(error, 6, 39, "'services[0].rules[0].matches[0].headers[0].name' is 'x-env:', which is not a valid name");
    }

    // --- action ---

    [Theory]
    [InlineData("filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [a] } }]", "filters")]
    [InlineData("backendRefs: [{ name: catalog }]", "backendRefs")]
    [InlineData("timeouts: { request: 1s }", "timeouts")]
    [InlineData("retry: {}", "retry")]
    [InlineData("circuitBreaker: {}", "circuitBreaker")]
    [InlineData("rateLimit: { requestsPerSecond: 1 }", "rateLimit")]
    [InlineData("fault: { abort: { httpStatus: 500 } }", "fault")]
    [InlineData("authorization: { allowFrom: [catalog] }", "authorization")]
    public void Parse_DenyWithKeyThatCouldNeverRun_ReportsKey(string key, string name)
    {
        var error = SingleError(OneRule($"action: deny\n        {key}") + "    source: { cgroup: /sys/fs/cgroup/c }\n");

        AssertError(error, 7, 9, $"'{name}' would never apply: 'services[0].rules[0]' denies, answering 403 itself", $"remove '{name}', or remove 'action: deny'");
    }

    [Fact]
    public void Parse_DenyReasonWithoutDeny_AsksForDenyAction()
    {
        var error = SingleError(OneRule("denyReason: internal"));

        AssertError(error, 6, 9, "'denyReason' is only sent by a rule with 'action: deny'", "add 'action: deny', or remove 'denyReason'");
    }

    [Fact]
    public void Parse_DenyReasonWithUnknownAction_ReportsOnlyTheAction()
    {
        var error = SingleError(OneRule("action: reject\n        denyReason: internal"));

        AssertError(error, 6, 17, "'services[0].rules[0].action' is 'reject', which is not one of allow, deny");
    }

    // --- filters ---

    [Fact]
    public void Parse_UnknownFilterType_SuggestsClosest()
    {
        var error = SingleError(OneRule("filters: [{ type: URLRewite, urlRewrite: { hostname: a } }]"));

        AssertError(error, 6, 27, "'services[0].rules[0].filters[0].type' is 'URLRewite', which is not a type here; did you mean 'URLRewrite'?");
    }

    [Fact]
    public void Parse_UnsupportedGatewayApiFilterType_SaysUnsupported()
    {
        var error = SingleError(OneRule("filters: [{ type: CORS }]"));

        AssertError(error, 6, 27, "'CORS', a Gateway API type that Mesh does not support", "RequestHeaderModifier");
    }

    [Fact]
    public void Parse_FilterTypeWithoutItsKey_AsksForKey()
    {
        var error = SingleError(OneRule("filters:\n          - type: RequestHeaderModifier"));

        AssertError(error, 7, 13, "'services[0].rules[0].filters[0]' is type RequestHeaderModifier but has no 'requestHeaderModifier'", "add 'requestHeaderModifier:'");
    }

    [Fact]
    public void Parse_FilterWithKeyOfAnotherType_ReportsThatKey()
    {
        var error = SingleError(OneRule("filters:\n          - type: URLRewrite\n            urlRewrite: { hostname: a }\n            requestMirror: { backendRef: { name: catalog } }"));

        AssertError(error, 9, 13, "'requestMirror' belongs to type RequestMirror, but 'services[0].rules[0].filters[0]' is type URLRewrite", "'type: RequestMirror'");
    }

    [Fact]
    public void Parse_FilterKeyWithoutType_AsksForType()
    {
        var error = SingleError(OneRule("filters:\n          - urlRewrite: { hostname: a }"));

        AssertError(error, 7, 13, "'services[0].rules[0].filters[0]' has no 'type'; add 'type: URLRewrite' beside 'urlRewrite'");
    }

    [Fact]
    public void Parse_SameFilterTypeTwice_ReportsSecond()
    {
        var error = SingleError(OneRule("""
            filters:
                      - { type: RequestHeaderModifier, requestHeaderModifier: { remove: [a] } }
                      - { type: RequestMirror, requestMirror: { backendRef: { name: catalog } } }
                      - { type: RequestMirror, requestMirror: { backendRef: { name: catalog } } }
                      - { type: RequestHeaderModifier, requestHeaderModifier: { remove: [b] } }
            """));

        AssertError(error, 10, 13, "'services[0].rules[0].filters[3]' is a second RequestHeaderModifier filter, after 'filters[0]'", "merge the two");
    }

    [Fact]
    public void Parse_HeaderModifierThatChangesNothing_AsksForSetAddOrRemove()
    {
        var error = SingleError(OneRule("filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: {} }]"));

        AssertError(error, 6, 75, "'services[0].rules[0].filters[0].responseHeaderModifier' changes no header");
    }

    [Fact]
    public void Parse_RedirectWithBackendRefs_ReportsBackendRefs()
    {
        var error = SingleError(OneRule("filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]\n        backendRefs: [{ name: catalog }]"));

        AssertError(error, 7, 9, "'backendRefs' would never be used", "Gateway API forbids the two together");
    }

    [Fact]
    public void Parse_RedirectWithRewrite_ReportsLaterFilter()
    {
        var error = SingleError(OneRule("""
            filters:
                      - { type: RequestRedirect, requestRedirect: { scheme: https } }
                      - { type: URLRewrite, urlRewrite: { hostname: a } }
            """));

        AssertError(error, 8, 13, "both a RequestRedirect and a URLRewrite filter, which Gateway API forbids");
    }

    [Theory]
    [InlineData("retry: {}", "retry")]
    [InlineData("circuitBreaker: {}", "circuitBreaker")]
    public void Parse_RedirectWithBackendPolicy_ReportsPolicy(string key, string name)
    {
        var error = SingleError(OneRule($"filters: [{{ type: RequestRedirect, requestRedirect: {{ scheme: https }} }}]\n        {key}"));

        AssertError(error, 7, 9, $"'{name}' would never apply: 'services[0].rules[0]' redirects");
    }

    [Fact]
    public void Parse_RedirectThatChangesNothing_ReportsLoop()
    {
        var error = SingleError(OneRule("filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301 } }]"));

        AssertError(error, 6, 61, "would send clients back to the URL they asked for, in a loop");
    }

    [Fact]
    public void Parse_UnknownRedirectStatus_ListsStatusesWithoutGuessing()
    {
        var error = SingleError(OneRule("filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 305 } }]"));

        AssertError(error, 6, 90, "is '305', which is not one of 301, 302, 303, 307, 308; write one of 301, 302, 303, 307, 308");
    }

    [Fact]
    public void Parse_ReplacePrefixMatchWithExactMatch_ReportsModifierType()
    {
        var error = SingleError(OneRule("""
            matches: [{ path: { type: PathPrefix, value: /a } }, { path: { type: Exact, value: /b } }]
                    filters:
                      - type: URLRewrite
                        urlRewrite:
                          path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 }
            """));

        AssertError(error, 10, 29, "replaces the matched prefix, but 'matches[1]' is a Exact match", "'type: ReplaceFullPath'");
    }

    [Fact]
    public void Parse_PathModifierWithOtherTypesKey_ReportsKey()
    {
        Assert.Collection(Errors(OneRule("filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replacePrefixMatch: /v2 } } }]")),
            e => AssertError(e, 6, 59, "is type ReplaceFullPath but has no 'replaceFullPath'"),
            e => AssertError(e, 6, 84, "'replacePrefixMatch' belongs to type ReplacePrefixMatch"));
    }

    [Fact]
    public void Parse_MirrorToUnknownService_SuggestsClosest()
    {
        var error = SingleError(OneRule("filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: catalgo } } }]"));

        AssertError(error, 6, 79, "'services[0].rules[0].filters[0].requestMirror.backendRef.name' names the service 'catalgo', but no service in this file has that name",
            "did you mean 'catalog'?");
    }

    // --- backendRefs ---

    [Fact]
    public void Parse_BackendRefToUnknownService_ListsServices()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog-v9 }]", "  - { name: other, address: 127.0.0.11, port: 8080 }\n"));

        AssertError(error, 6, 31, "names the service 'catalog-v9', but no service in this file has that name, so requests cannot be sent to it",
            "write one of catalog, other, or add a service named 'catalog-v9' under 'services'");
    }

    [Fact]
    public void Parse_NegativeWeight_SaysWeightsAreRelative()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog, weight: -1 }]"));

        AssertError(error, 6, 48, "'services[0].rules[0].backendRefs[0].weight' is -1, but must be from 0 to 1000000", "relative shares");
    }

    [Fact]
    public void Parse_AllWeightsZero_ReportsBackendRefsList()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog, weight: 0 }, { name: other, weight: 0 }]", "  - { name: other, address: 127.0.0.11, port: 8080 }\n"));

        AssertError(error, 6, 22, "every backend in 'services[0].rules[0].backendRefs' has weight 0", "at least one a weight above 0");
    }

    [Fact]
    public void Parse_BackendRefPortOtherThanServicePort_AsksForServicePort()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog, port: 9090 }]"));

        AssertError(error, 6, 46, "'services[0].rules[0].backendRefs[0].port' is 9090, but the service 'catalog' listens on 8080; write 8080, or remove 'port'");
    }

    [Fact]
    public void Parse_SameBackendTwice_AsksToMergeWeights()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog, weight: 1 }, { name: catalog, weight: 2 }]"));

        AssertError(error, 6, 61, "'catalog' is already a backend of this rule at line 6", "sum of the two weights");
    }

    [Fact]
    public void Parse_NamespaceOnBackendRef_SaysBackendsAreServicesOfTheFile()
    {
        var error = SingleError(OneRule("backendRefs: [{ name: catalog, namespace: shop }]"));

        AssertError(error, 6, 40, "unknown key 'namespace'", "services of this file");
    }

    // --- timeouts, retry ---

    [Theory]
    [InlineData("5", "which has no unit; write 5s for seconds or 5ms for milliseconds")]
    [InlineData("1.5s", "which is not a Gateway API duration")]
    [InlineData("5sec", "which is not a Gateway API duration")]
    [InlineData("100us", "which is not a Gateway API duration")]
    [InlineData("123456ms", "which is not a Gateway API duration")]
    [InlineData("0s", "but a duration must be longer than 0")]
    [InlineData("0ms0s", "but a duration must be longer than 0")]
    [InlineData("-1s", "which is not a Gateway API duration")]
    public void Parse_BadDuration_AsksForGatewayApiDuration(string duration, string message)
    {
        var error = SingleError(OneRule($"timeouts: {{ request: {duration} }}"));

        AssertError(error, 6, 30, $"'services[0].rules[0].timeouts.request' is '{duration}', {message}");
    }

    [Fact]
    public void Parse_BackendRequestLongerThanRequest_ReportsBackendRequest()
    {
        var error = SingleError(OneRule("timeouts: { request: 1s, backendRequest: 2s }"));

        AssertError(error, 6, 50, "'services[0].rules[0].timeouts.backendRequest' is longer than 'request' (00:00:01)", "at most as long");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    public void Parse_RetryAttemptsBelowOne_SaysToRemoveRetry(string attempts)
    {
        var error = SingleError(OneRule($"retry: {{ attempts: {attempts} }}"));

        AssertError(error, 6, 28, $"'services[0].rules[0].retry.attempts' is {attempts}, but must be 1 or more", "to not retry, remove 'retry'");
    }

    [Theory]
    [InlineData("[600]", 26, "must be from 400 to 599")]
    [InlineData("[200]", 26, "must be from 400 to 599")]
    [InlineData("[502, 502]", 31, "502 is already in 'services[0].rules[0].retry.codes'")]
    [InlineData("502", 25, "'services[0].rules[0].retry.codes' expects a list", "[502] on one line")]
    public void Parse_BadRetryCodes_ReportsCode(string codes, int column, params string[] parts)
    {
        AssertError(SingleError(OneRule($"retry: {{ codes: {codes} }}")), 6, column, parts);
    }

    [Fact]
    public void Parse_MaxBackoffShorterThanBackoff_ReportsMaxBackoff()
    {
        var error = SingleError(OneRule("retry: { backoff: 1s, maxBackoff: 500ms }"));

        AssertError(error, 6, 43, "'services[0].rules[0].retry.maxBackoff' is shorter than 'backoff'");
    }

    [Theory]
    [InlineData("budgetPercent: 0", 33, "must be above 0 up to 100")]
    [InlineData("budgetPercent: 101", 33, "must be above 0 up to 100")]
    [InlineData("maxBodyBytes: -1", 32, "must be from 0 to 16777216")]
    [InlineData("retryNonIdempotent: yes", 38, "which is not a switch")]
    public void Parse_BadRetryValue_ReportsValue(string setting, int column, string message)
    {
        AssertError(SingleError(OneRule($"retry: {{ {setting} }}")), 6, column, message);
    }

    [Fact]
    public void Parse_IstioRetryOn_PointsToCodes()
    {
        AssertError(SingleError(OneRule("retry: { retryOn: 5xx }")), 6, 18, "unknown key 'retryOn'", "write 'codes'");
    }

    // --- percentages, circuit breaker, rate limit, fault ---

    [Theory]
    [InlineData("fault: { delay: { fixedDelay: 1s, percent: 150 } }", 52, "fault.delay.percent' is 150, but must be from 0 up to 100")]
    [InlineData("fault: { abort: { httpStatus: 503, percent: -1 } }", 53, "fault.abort.percent' is -1, but must be from 0 up to 100")]
    [InlineData("fault: { abort: { httpStatus: 503, percent: 10% } }", 53, "fault.abort.percent' is '10%'; write the number without the % sign, such as 10")]
    [InlineData("filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: catalog }, percent: 101 } }]", 99,
        "requestMirror.percent' is 101, but must be from 0 up to 100")]
    public void Parse_PercentOutsideZeroToHundred_ReportsPercent(string body, int column, string message)
    {
        AssertError(SingleError(OneRule(body)), 6, column, message, "without the % sign");
    }

    [Fact]
    public void Parse_IstioPercentage_AsksForPlainPercent()
    {
        AssertError(SingleError(OneRule("fault: { abort: { httpStatus: 503, percentage: { value: 5 } } }")), 6, 44,
            "unknown key 'percentage'", "write 'percent' with a number from 0 to 100");
    }

    [Fact]
    public void Parse_EmptyFault_AsksForDelayOrAbort()
    {
        AssertError(SingleError(OneRule("fault: {}")), 6, 16, "'services[0].rules[0].fault' injects nothing");
    }

    [Fact]
    public void Parse_AbortWithoutStatus_AsksForHttpStatus()
    {
        AssertError(SingleError(OneRule("fault: { abort: { percent: 5 } }")), 6, 25, "'services[0].rules[0].fault.abort' has no 'httpStatus'; add 'httpStatus: 503'");
    }

    [Fact]
    public void Parse_CircuitBreakerThatNeverOpens_ReportsConsecutiveFailures()
    {
        AssertError(SingleError(OneRule("circuitBreaker: { consecutiveFailures: 0 }")), 6, 48, "is 0 and there is no 'failureRatio', so the breaker would never open");
    }

    [Fact]
    public void Parse_MinimumThroughputWithoutFailureRatio_ReportsKey()
    {
        AssertError(SingleError(OneRule("circuitBreaker: { minimumThroughput: 10 }")), 6, 27, "'minimumThroughput' only applies to 'failureRatio'");
    }

    [Theory]
    [InlineData("breakDuration: 100ms", 42, "must be at least 500ms")]
    [InlineData("failureRatio: 1.5", 41, "must be above 0 up to 1")]
    [InlineData("failureRatio: 0", 41, "must be above 0 up to 1")]
    [InlineData("minimumThroughput: 1", 46, "must be 2 or more")]
    public void Parse_BadCircuitBreakerValue_ReportsValue(string setting, int column, string message)
    {
        AssertError(SingleError(OneRule($"circuitBreaker: {{ {setting} }}")), 6, column, message);
    }

    [Theory]
    [InlineData("timeouts: { request: 5ms }", 30, "must be at least 10ms and at most 24h")]
    [InlineData("timeouts: { backendRequest: 25h }", 37, "must be at least 10ms and at most 24h")]
    [InlineData("retry: { backoff: 25h }", 27, "must be at most 24h")]
    [InlineData("circuitBreaker: { breakDuration: 25h }", 42, "must be at least 500ms and at most 24h")]
    [InlineData("fault: { delay: { fixedDelay: 25h } }", 39, "must be at most 24h")]
    [InlineData("rateLimit: { requestsPerSecond: 2000000 }", 41, "must be above 0 up to 1000000")]
    [InlineData("rateLimit: { requestsPerSecond: 0.00001 }", 41, "refills the bucket less than once a day")]
    public void Parse_PolicyValueOutsideWhatTheProxyRuns_ReportsValue(string rule, int column, string message)
    {
        // One set of limits: the loader refuses what the proxy's libraries (Polly, the token bucket) would refuse.
        AssertError(SingleError(OneRule(rule)), 6, column, message);
    }

    [Fact]
    public void Parse_IstioOutlierDetectionKey_PointsToMeshKey()
    {
        AssertError(SingleError(OneRule("circuitBreaker: { consecutive5xxErrors: 5 }")), 6, 27, "unknown key 'consecutive5xxErrors'", "write 'consecutiveFailures'");
    }

    [Fact]
    public void Parse_RateLimitWithoutRate_AsksForRate()
    {
        AssertError(SingleError(OneRule("rateLimit: { burst: 5 }")), 6, 20, "'services[0].rules[0].rateLimit' has no 'requestsPerSecond'; add 'requestsPerSecond: 100'");
    }

    [Theory]
    [InlineData("requestsPerSecond: 0", 41, "must be above 0")]
    [InlineData("requestsPerSecond: 1, burst: 0", 51, "must be 1 or more")]
    public void Parse_BadRateLimitValue_ReportsValue(string setting, int column, string message)
    {
        AssertError(SingleError(OneRule($"rateLimit: {{ {setting} }}")), 6, column, message);
    }

    // --- authorization ---

    [Fact]
    public void Parse_AllowFromUnknownService_ReportsName()
    {
        AssertError(SingleError(OneRule("authorization: { allowFrom: [frontend] }")), 6, 38,
            "'services[0].rules[0].authorization.allowFrom[0]' names the service 'frontend', but no service in this file has that name",
            "add a service named 'frontend'");
    }

    [Fact]
    public void Parse_AllowFromServiceWithoutSource_AsksForSource()
    {
        var error = SingleError(OneRule("authorization: { allowFrom: [frontend] }", "  - { name: frontend, address: 127.0.0.11, port: 80 }\n"));

        AssertError(error, 6, 38, "names the service 'frontend', which has no 'source'", "give 'frontend' a 'source: { cidrs: [...] }'");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("")]
    public void Parse_EmptyAllowFrom_SaysEveryRequestWouldBeRefused(string list)
    {
        var error = SingleError(OneRule($"authorization:\n          allowFrom: {list}"));

        Assert.Equal(7, error.Line);
        Assert.Contains("'services[0].rules[0].authorization.allowFrom' allows no client", error.Message);
        Assert.Contains("'action: deny'", error.Message);
    }

    // --- several at once ---

    [Fact]
    public void Parse_MistakesInSeveralServices_ReportsEveryOneInFileOrder()
    {
        var errors = Errors("""
            services:
              - name: a
                address: 127.0.0.300
                port: 8080
                rules:
                  - matches: [{ method: got }]
                    backendRefs: [{ name: c }]
              - name: b
                address: 127.0.0.11
                port: 99999
            """);

        Assert.Collection(errors,
            e => AssertError(e, 3, 14, "'services[0].address'"),
            e => AssertError(e, 6, 29, "'services[0].rules[0].matches[0].method' is 'got'"),
            e => AssertError(e, 7, 31, "names the service 'c'"),
            e => AssertError(e, 10, 11, "'services[1].port' is 99999"));
    }
}
