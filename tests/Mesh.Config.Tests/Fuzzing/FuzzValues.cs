using System.Globalization;
using CsCheck;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// Values at the edges: what a value of any key may be replaced with to see whether the loader
/// rejects it clearly. Empty and null spellings, huge and negative numbers, Unicode that is hard
/// to see or to encode, very long text, YAML syntax as text, and values of the wrong type.
/// </summary>
internal static class FuzzValues
{
    private static readonly string[] Words =
    [
        "", " ", "\t", "~", "null", "Null", "NULL", "true", "false", "on", "off", "On", "OFF", "yes", "no", "y", "n",
        "0", "-0", "+1", "-1", "1.0", "0.5", "-0.5", ".5", "5.", "1e3", "1e400", "-1e400", "NaN", ".nan", ".inf", "-.inf", "0x1F", "0o17", "1_000",
        "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0ms", "1ms", "99999h", "100000h", "1m30", "1.5s", "5 s", "-5s", "1h1m1s1ms", "1h1m1s1ms1ms", "5S", "PT5S",
        "65535", "65536", "0-0", "1-65535", "8080-80", "443-443", "-443", "0.0.0.0", "::", "::1", "[::1]", "[::1]:9002", "::1:9002",
        "256.1.1.1", "010.0.0.1", "10.1", "10.0.0.1/8", "10.0.0.0/33", "fd00::/129", "fe80::1%eth0", "::ffff:127.0.0.1", "127.0.0.1:0",
        "127.0.0.1:65536", "localhost", "localhost:80", "http://", "http://localhost:4317", "https://[::1]:4318/", "http://h/%761/traces",
        "http://user:pass@h/", "ftp://h/", "/", "//", "/a//b", "/a/../b", "/a/./b", "/a%2Fb", "/a?b", "/a#b", "relative/path", "C:\\Windows",
        "a: b", "- a", "? a", "[a", "a]", "{a", "a}", "#a", "a #b", "&a", "*a", "!a", "!!str", "%TAG", "@a", "`a", "|", ">", "'", "\"", ",", "---", "...",
        "ñ", "日本語", "🚀", "e\u0301", "\u202Eevil", "\u200B", "\uFEFFbom", "a\u0000b", "a\u0007b", "a\u001Fb", "\u007F", "\u0085", "\u2028", "\u2029",
        "\uD800", "\uDFFF", "a\uD83Db", "\uFFFE", "\uFFFF", "Ⅻ", "İ", "ß", "ﬀ", "x-ENV", "X-Env", "GET", "get", "Exact", "exact", "PATHPREFIX",
    ];

    /// <summary>Any text, with the characters YAML and .NET strings may hold (surrogate halves too).</summary>
    public static readonly Gen<string> AnyText = Gen.String[Gen.Char, 0, 40];

    /// <summary>A number of any size and sign, written as YAML might read it.</summary>
    public static readonly Gen<string> AnyNumber = Gen.Frequency(
        (3, Gen.Long.Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Int[-100, 100].Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Double.Select(d => d.ToString("R", CultureInfo.InvariantCulture))),
        (1, Gen.Char['0', '9'].Array[25, 400].Select(d => new string(d))));

    /// <summary>An edge scalar, or a value of the wrong type, or one nested deeper than the loader allows.</summary>
    public static YamlValue Edge(FuzzRandom random)
    {
        switch (random.Int(12))
        {
            case < 5:
                return new YamlScalar(random.Pick(Words));
            case 5:
                return new YamlScalar(random.Next(AnyNumber));
            case 6:
                return new YamlScalar(random.Next(AnyText));
            case 7:
                return new YamlScalar(LongText(random));
            case 8:
                return random.Chance(0.5) ? new YamlMap([]) : new YamlList([]);
            case 9:
                return YamlList.Of(Enumerable.Range(0, random.Int(1, 4)).Select(_ => (YamlValue)new YamlScalar(random.Pick(Words))));
            case 10:
                return YamlMap.Of(("name", new YamlScalar("x")), (random.Pick(Words), new YamlScalar(random.Pick(Words))));
            default:
                YamlValue nested = new YamlScalar("x");
                for (var depth = random.Chance(0.3) ? random.Int(60, 120) : random.Int(1, 10); depth > 0; depth--)
                {
                    nested = random.Chance(0.5) ? new YamlList([nested]) : YamlMap.Of(("a", nested));
                }
                return nested;
        }
    }

    /// <summary>
    /// A URL put together from parts that URL parsers treat specially: schemes, user info, IPv6 and
    /// escaped hosts, odd ports, and paths with dot segments, escapes (%76 is 'v') and signal paths.
    /// </summary>
    public static string Url(FuzzRandom random)
    {
        var scheme = random.Pick(["http://", "https://", "HTTP://", "grpc://", "ftp://", "http:/", "http:", "//", ""]);
        var user = random.Chance(0.1) ? random.Pick(["user@", "user:secret@", "@", "%40@"]) : "";
        var host = random.Pick(["localhost", "127.0.0.1", "[::1]", "collector.example.com", "", "%6Cocalhost", "xn--nxasmq6b", "日本.jp", "a..b", "[fe80::1%25eth0]"]);
        var port = random.Chance(0.5) ? random.Pick([":4317", ":4318", ":0", ":65535", ":65536", ":", ":-1", ":99999999999"]) : "";
        var segments = Enumerable.Range(0, random.Int(0, 5))
            .Select(_ => random.Pick(["v1", "%76%31", "%761", "V1", "traces", "metrics", "tr%61ces", "otlp", "..", ".", "", "%2F", "a b", "%", "%zz", "日本"]));
        var path = string.Concat(segments.Select(s => "/" + s)) + (random.Chance(0.2) ? "/" : "");
        var rest = random.Chance(0.1) ? random.Pick(["?a=b", "#x", "?", "#", "?/v1/traces"]) : "";
        return scheme + user + host + port + path + rest;
    }

    /// <summary>Text from a kilobyte to a couple of hundred: a name, a path or a number nobody would write.</summary>
    public static string LongText(FuzzRandom random)
    {
        var length = random.Chance(0.8) ? random.Int(1_000, 10_000) : random.Int(10_000, 200_000);
        return random.Int(5) switch
        {
            0 => new string('a', length),
            1 => new string('9', length),
            2 => "/" + string.Concat(Enumerable.Repeat("segment/", length / 8)),
            3 => string.Concat(Enumerable.Repeat("日本🚀", length / 4)),
            _ => new string(random.Next(Gen.Char.AlphaNumeric.Array[length, length])),
        };
    }
}
