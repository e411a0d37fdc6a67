using System.Globalization;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// Builds config documents from the schema the binders read: every section and key, with values
/// of the right shape. At noise 0 the documents are meant to be valid; with noise, each value,
/// key and section may be replaced by an edge value (<see cref="FuzzValues"/>), misspelt,
/// duplicated or given the wrong type, so the binders' error paths are walked too.
/// </summary>
internal sealed class SchemaDocuments
{
    private static readonly string[] ServiceNames = ["catalog", "billing", "frontend", "orders", "search", "catalog-v1", "catalog-v2", "shadow", "a", "x9"];
    private static readonly string[] HeaderNames = ["x-env", "x-user", "X-Request-Id", "authorization", "x-b3-traceid", "accept", "x_under", "x.dot"];
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    private static readonly string[] Interfaces = ["eth0", "eth1", "ens3", "lo", "wlan0", "veth1234567890a"];
    private static readonly string[] TopLevelKeys = ["splice", "agent", "services", "l4", "telemetry"];

    private readonly FuzzRandom _random;
    private readonly double _noise;

    /// <param name="noise">The chance, from 0 to 1, that any one value or key is spoilt.</param>
    private SchemaDocuments(FuzzRandom random, double noise)
    {
        _random = random;
        _noise = noise;
    }

    /// <summary>A document, and how much of it was spoilt, for the failure report.</summary>
    public static (string Text, string Origin) Create(FuzzRandom random)
    {
        var noise = random.Pick([0.0, 0.0, 0.01, 0.03, 0.1, 0.3]);
        var generator = new SchemaDocuments(random, noise);
        return (YamlWriter.Write(generator.Root(), random), $"generated from the schema, noise {noise.ToString(CultureInfo.InvariantCulture)}");
    }

    private YamlValue Root()
    {
        var services = _random.Chance(0.7) ? Services() : null;
        return Section(
            ("splice", Maybe(0.4, () => Word("on", "off", "true", "false", "On", "OFF"))),
            ("agent", Maybe(0.3, Agent)),
            ("services", services),
            ("l4", Maybe(0.5, L4)),
            ("telemetry", Maybe(0.2, Telemetry)));
    }

    private YamlValue Agent() => Section(
        ("cgroup", Maybe(0.5, () => Word("/sys/fs/cgroup", "/sys/fs/cgroup/mesh.slice", "/"))),
        ("bpfPinDir", Maybe(0.5, () => Word("/sys/fs/bpf/mesh", "/sys/fs/bpf/other"))),
        ("drainTimeout", Maybe(0.3, Duration)));

    private YamlValue Telemetry() => Section(
        ("otlp", Maybe(0.7, () => Section(
            ("endpoint", Maybe(0.8, () => _random.Chance(0.3)
                ? new YamlScalar(FuzzValues.Url(_random))
                : Word("http://localhost:4317", "https://collector.example.com:4318", "http://127.0.0.1:4318/otlp"))),
            ("protocol", Maybe(0.5, () => Word("grpc", "http/protobuf")))))),
        ("tracing", Maybe(0.5, () => Section(("samplingRatio", Maybe(0.8, () => Word("0", "0.1", "0.5", "1")))))),
        ("metrics", Maybe(0.5, () => Section(("exportInterval", Maybe(0.8, () => Word("1s", "10s", "1m", "1h")))))));

    private YamlValue Services()
    {
        var names = _random.Distinct(ServiceNames, _random.Int(1, 5));
        var withSource = names.Where(_ => _random.Chance(0.4)).ToHashSet();
        var items = names.Select((name, i) => Service(name, i, names, withSource)).ToList();
        return List(items);
    }

    private YamlValue Service(string name, int index, List<string> names, HashSet<string> withSource) => Section(
        ("name", Value(name)),
        ("address", Value(_random.Chance(0.8) ? $"127.0.0.{10 + index}" : $"fd00::{10 + index:x}")),
        ("port", Value("8080")),
        ("endpoints", Maybe(0.6, () => List(Enumerable.Range(0, _random.Int(1, 3))
            .Select(k => Value(_random.Chance(0.8) ? $"127.0.0.1:{9000 + (index * 10) + k}" : $"[::1]:{9000 + (index * 10) + k}"))))),
        ("protocol", Maybe(0.2, () => Word("http1", "h2c"))),
        ("failMode", Maybe(0.2, () => Word("closed", "open"))),
        ("default", Maybe(0.2, () => Word("allow", "deny"))),
        ("source", withSource.Contains(name) ? Source(index) : null),
        ("rules", Maybe(0.7, () => Rules(names, withSource))));

    private YamlValue Source(int index) => Section(
        ("cidrs", List(new[] { $"127.0.1.{index}/32", "10.0.0.0/8", "fd00::/64" }.Take(_random.Int(1, 3)).Select(Value))),
        ("cgroup", Maybe(0.5, () => Word("/sys/fs/cgroup/frontend.slice", "/sys/fs/cgroup/batch.slice"))),
        ("labels", Maybe(0.3, () => Section(("app", Word("web", "batch")), ("tier", Maybe(0.5, () => Word("front", "back")))))));

    private YamlValue Rules(List<string> names, HashSet<string> withSource)
    {
        var count = _random.Int(1, 5);
        // Every rule but perhaps the last matches paths of its own, so no earlier rule takes its requests.
        return List(Enumerable.Range(0, count).Select(i => Rule(i, last: i == count - 1, names, withSource)));
    }

    private YamlValue Rule(int index, bool last, List<string> names, HashSet<string> withSource)
    {
        var matchCount = last && _random.Chance(0.3) ? 0 : _random.Int(1, 3);
        var pathTypes = Enumerable.Range(0, matchCount).Select(_ => _random.Pick(["PathPrefix", "PathPrefix", "Exact", "RegularExpression"])).ToList();
        var matches = matchCount == 0 ? null : List(pathTypes.Select((type, k) => Match(type, $"/r{index}/m{k}")));
        var allPrefix = pathTypes.All(t => t == "PathPrefix");
        var kind = _random.Int(3);
        return kind switch
        {
            // Deny: nothing else could run.
            0 => Section(
                ("name", Maybe(0.7, () => Value($"rule-{index}-deny"))),
                ("matches", matches),
                ("action", Value("deny")),
                ("denyReason", Maybe(0.5, () => Word("admin is internal", "no", "\"quoted\"")))),
            // Redirect: the client is sent elsewhere, so nothing goes to a backend.
            1 => Section(
                ("name", Maybe(0.7, () => Value($"rule-{index}-redirect"))),
                ("matches", matches),
                ("filters", List(_random.Chance(0.3) ? [Redirect(allPrefix), HeaderFilter("RequestHeaderModifier")] : [Redirect(allPrefix)])),
                ("timeouts", Maybe(0.2, Timeouts)),
                ("rateLimit", Maybe(0.2, RateLimit)),
                ("fault", Maybe(0.2, Fault)),
                ("authorization", withSource.Count > 0 ? Maybe(0.2, () => Authorization(withSource)) : null)),
            // Route: sent on, with filters and policies.
            _ => Section(
                ("name", Maybe(0.7, () => Value($"rule-{index}"))),
                ("matches", matches),
                ("action", Maybe(0.2, () => Value("allow"))),
                ("filters", Maybe(0.5, () => Filters(allPrefix, names))),
                ("backendRefs", Maybe(0.4, () => BackendRefs(names))),
                ("timeouts", Maybe(0.3, Timeouts)),
                ("retry", Maybe(0.3, Retry)),
                ("circuitBreaker", Maybe(0.3, CircuitBreaker)),
                ("rateLimit", Maybe(0.3, RateLimit)),
                ("fault", Maybe(0.3, Fault)),
                ("authorization", withSource.Count > 0 ? Maybe(0.3, () => Authorization(withSource)) : null)),
        };
    }

    private YamlValue Match(string pathType, string path) => Section(
        ("path", Section(
            ("type", Value(pathType)),
            ("value", Value(pathType == "RegularExpression" ? $"{path}/[a-z]+(/[0-9]{{1,4}})?" : path)))),
        ("method", Maybe(0.3, () => Value(_random.Pick(Methods)))),
        ("headers", Maybe(0.3, () => List(_random.Distinct(HeaderNames, _random.Int(1, 3)).Select(name => Section(
            ("name", Value(name)),
            ("value", Value(_random.Pick(["canary", "", "a b", "[0-9]+"]))),
            ("type", Maybe(0.3, () => Word("Exact")))))))),
        ("queryParams", Maybe(0.2, () => List(_random.Distinct(new[] { "debug", "confirm", "v" }, _random.Int(1, 2)).Select(name => Section(
            ("name", Value(name)),
            ("value", Value(_random.Pick(["1", "yes", "canary-[0-9]+"]))),
            ("type", Maybe(0.3, () => Word("Exact", "RegularExpression")))))))));

    private YamlValue Filters(bool allPrefix, List<string> names)
    {
        var filters = new List<YamlValue>();
        if (_random.Chance(0.5))
        {
            filters.Add(HeaderFilter("RequestHeaderModifier"));
        }
        if (_random.Chance(0.4))
        {
            filters.Add(HeaderFilter("ResponseHeaderModifier"));
        }
        if (_random.Chance(0.4))
        {
            filters.Add(Section(
                ("type", Value("URLRewrite")),
                ("urlRewrite", Section(
                    ("hostname", Maybe(0.5, () => Word("catalog.internal", "a.b.c"))),
                    ("path", PathModifier(allPrefix))))));
        }
        for (var i = _random.Int(0, 2); i > 0; i--)
        {
            filters.Add(Section(
                ("type", Value("RequestMirror")),
                ("requestMirror", Section(
                    ("backendRef", Section(("name", Value(_random.Pick(names))), ("port", Maybe(0.3, () => Value("8080"))))),
                    ("percent", Maybe(0.5, () => Word("0", "10", "50.5", "100")))))));
        }
        return List(filters);
    }

    private YamlValue HeaderFilter(string type)
    {
        var key = char.ToLowerInvariant(type[0]) + type[1..];
        var names = _random.Distinct(HeaderNames, 6);
        return Section(
            ("type", Value(type)),
            (key, Section(
                ("set", Maybe(0.6, () => List(names.Take(2).Select(n => Section(("name", Value(n)), ("value", Value("v"))))))),
                ("add", Maybe(0.4, () => List(names.Skip(2).Take(2).Select(n => Section(("name", Value(n)), ("value", Value("mesh"))))))),
                ("remove", _random.Chance(0.5) ? List(names.Skip(4).Select(Value)) : List([Value(names[5])])))));
    }

    private YamlValue Redirect(bool allPrefix) => Section(
        ("type", Value("RequestRedirect")),
        ("requestRedirect", Section(
            ("scheme", Maybe(0.6, () => Word("http", "https"))),
            ("hostname", Word("shop.example.com", "localhost")),
            ("port", Maybe(0.4, () => Word("443", "8443", "1", "65535"))),
            ("path", Maybe(0.4, () => PathModifier(allPrefix))),
            ("statusCode", Maybe(0.6, () => Word("301", "302", "303", "307", "308"))))));

    private YamlValue PathModifier(bool allPrefix) => allPrefix && _random.Chance(0.5)
        ? Section(("type", Value("ReplacePrefixMatch")), ("replacePrefixMatch", Word("/v2", "/", "/shop")))
        : Section(("type", Value("ReplaceFullPath")), ("replaceFullPath", Word("/healthz", "/", "/a/b")));

    private YamlValue BackendRefs(List<string> names) => List(_random.Distinct(names, _random.Int(1, names.Count)).Select(name => Section(
        ("name", Value(name)),
        ("weight", Maybe(0.7, () => Value(_random.Int(1, 1_000_000).ToString(CultureInfo.InvariantCulture)))),
        ("port", Maybe(0.2, () => Value("8080"))))));

    private YamlValue Timeouts() => Section(
        ("request", Maybe(0.8, () => Word("5s", "10s", "1m30s"))),
        ("backendRequest", Maybe(0.6, () => Word("1s", "500ms", "2s"))));

    private YamlValue Retry() => Section(
        ("attempts", Maybe(0.5, () => Value(_random.Int(1, 10).ToString(CultureInfo.InvariantCulture)))),
        ("codes", Maybe(0.5, () => List(_random.Distinct(new[] { "500", "502", "503", "504", "429" }, _random.Int(1, 3)).Select(Value)))),
        ("backoff", Maybe(0.4, () => Word("25ms", "100ms"))),
        ("maxBackoff", Maybe(0.4, () => Word("1s", "2s"))),
        ("retryNonIdempotent", Maybe(0.3, () => Word("true", "false", "on", "off"))),
        ("maxBodyBytes", Maybe(0.3, () => Word("0", "65536", "16777216"))),
        ("budgetPercent", Maybe(0.3, () => Word("0.1", "20", "100"))));

    private YamlValue CircuitBreaker() => _random.Chance(0.5)
        ? Section(
            ("consecutiveFailures", Maybe(0.7, () => Value(_random.Int(1, 20).ToString(CultureInfo.InvariantCulture)))),
            ("breakDuration", Maybe(0.5, () => Word("500ms", "30s"))))
        : Section(
            ("consecutiveFailures", Maybe(0.3, () => Word("0", "5"))),
            ("failureRatio", Word("0.5", "1", "0.01")),
            ("minimumThroughput", Maybe(0.5, () => Word("2", "100"))),
            ("samplingDuration", Maybe(0.5, () => Word("500ms", "10s"))),
            ("breakDuration", Maybe(0.5, () => Word("1s", "30s"))));

    private YamlValue RateLimit() => Section(
        ("requestsPerSecond", Word("100", "0.5", "1", "100000")),
        ("burst", Maybe(0.5, () => Word("1", "20", "2147483647"))),
        ("perSource", Maybe(0.3, () => Word("true", "off"))));

    private YamlValue Fault()
    {
        var delay = _random.Chance(0.6);
        return Section(
            ("delay", delay ? Section(("fixedDelay", Word("100ms", "1s")), ("percent", Maybe(0.5, () => Word("10", "0", "100", "0.5")))) : null),
            ("abort", !delay || _random.Chance(0.5) ? Section(("httpStatus", Word("503", "400", "599")), ("percent", Maybe(0.5, () => Word("5", "100")))) : null));
    }

    private YamlValue Authorization(HashSet<string> withSource) =>
        Section(("allowFrom", List(_random.Distinct(withSource.ToList(), _random.Int(1, withSource.Count)).Select(Value))));

    private YamlValue L4()
    {
        var interfaces = _random.Distinct(Interfaces, _random.Int(0, 3));
        var ruleCount = _random.Chance(0.02) ? _random.Int(250, 300) : _random.Int(0, 6);
        return Section(
            ("default", Maybe(0.5, () => Word("allow", "deny"))),
            ("interfaces", Maybe(0.6, () => List(interfaces.Select(name => Section(
                ("name", Value(name)),
                ("mode", Maybe(0.5, () => Word("native", "generic", "auto")))))))),
            ("rules", Maybe(0.8, () => List(Enumerable.Range(0, ruleCount).Select(L4Rule)))));
    }

    private YamlValue L4Rule(int index)
    {
        var ipv6 = _random.Chance(0.3);
        var protocol = _random.Pick(["tcp", "udp", "icmp", "any", null]);
        return Section(
            ("name", Maybe(0.6, () => Value($"l4-{index}"))),
            ("action", Word("allow", "deny")),
            ("from", Maybe(0.4, () => Value(ipv6 ? "fd00:dead::/32" : $"192.168.{index % 256}.0/24"))),
            ("to", Maybe(0.5, () => Value(ipv6 ? $"fd00::{index:x}/128" : $"10.{index % 256}.0.0/16"))),
            ("protocol", protocol is null ? null : Value(protocol)),
            ("ports", protocol == "icmp" ? null : Maybe(0.5, () => Word("53", "443", "8000-8080", "1-65535"))),
            ("priority", Maybe(0.3, () => Value(_random.Int(0, 65535).ToString(CultureInfo.InvariantCulture)))));
    }

    /// <summary>
    /// A mapping of the given keys, which noise may spoil: a key misspelt or unknown, a key
    /// repeated, or the whole mapping replaced with an edge value.
    /// </summary>
    private YamlValue Section(params (string Key, YamlValue? Value)[] entries)
    {
        if (Noisy(0.3))
        {
            return FuzzValues.Edge(_random);
        }
        var map = YamlMap.Of(entries);
        var list = map.Entries.ToList();
        if (list.Count > 0 && Noisy(0.5))
        {
            var i = _random.Int(list.Count);
            list[i] = KeyValuePair.Create(Misspell(list[i].Key), list[i].Value);
        }
        if (list.Count > 0 && Noisy(0.3))
        {
            list.Insert(_random.Int(list.Count + 1), list[_random.Int(list.Count)]);
        }
        if (Noisy(0.3))
        {
            list.Add(KeyValuePair.Create(_random.Chance(0.5) ? _random.Pick(TopLevelKeys) : _random.Next(FuzzValues.AnyText), FuzzValues.Edge(_random)));
        }
        if (list.Count > 1 && Noisy(0.3))
        {
            var i = _random.Int(list.Count);
            var j = _random.Int(list.Count);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return new YamlMap(list);
    }

    private YamlValue List(IEnumerable<YamlValue> items)
    {
        if (Noisy(0.3))
        {
            return FuzzValues.Edge(_random);
        }
        var list = items.ToList();
        if (list.Count > 0 && Noisy(0.5))
        {
            list.Insert(_random.Int(list.Count + 1), _random.Chance(0.5) ? list[_random.Int(list.Count)] : FuzzValues.Edge(_random));
        }
        return new YamlList(list);
    }

    private YamlValue Value(string text) => Noisy(1) ? FuzzValues.Edge(_random) : new YamlScalar(text);

    private YamlValue Word(params string[] words) => Value(_random.Pick(words));

    private YamlValue Duration() => Word("5s", "100ms", "1m30s", "1h");

    /// <summary>The value when the key is there, which it is with the given chance; noise may add or drop any key.</summary>
    private YamlValue? Maybe(double chance, Func<YamlValue> value) =>
        _random.Chance(chance) != Noisy(0.5) ? value() : null;

    private bool Noisy(double weight) => _noise > 0 && _random.Chance(_noise * weight);

    private string Misspell(string key) => _random.Int(6) switch
    {
        0 => key.ToUpperInvariant(),
        1 => char.ToUpperInvariant(key[0]) + key[1..],
        2 => key.Length > 1 ? key[..^1] : key + key,
        3 => key.Length > 2 ? string.Concat(key[1], key[0], key[2..]) : key + "s",
        4 => key + "s",
        _ => " " + key,
    };
}
