using System.Globalization;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>proxy</c> section, the node proxy's limits on client input, and its <c>http2</c> part.</summary>
internal sealed class ProxySettingsBinder
{
    public const long MinHeadersSize = 1024;

    /// <summary>Envoy's ceiling for max_request_headers_kb (8192).</summary>
    public const long MaxHeadersSize = 8L * 1024 * 1024;

    public const int MaxHeaderCount = 10_000;

    public const long MinBodySize = 1;

    /// <summary>Beyond it a body is as good as unlimited; a larger number is more likely a slip than meant.</summary>
    public const long MaxBodySize = 1L << 40;

    public const int MaxStreams = 10_000;

    private static readonly TimeSpan MinTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxHeadersTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan MaxKeepAlive = TimeSpan.FromHours(1);

    /// <summary>Words that other tools use for "no limit", and numbers that mean it there.</summary>
    private static readonly HashSet<string> NoLimitSpellings = new(StringComparer.OrdinalIgnoreCase)
    {
        "0", "-1", "none", "off", "false", "infinite", "infinity", "unbounded", "max", "unlimited",
    };

    private readonly MappingBinder<ProxyHttp2Settings> _http2 = new(
    [
        new("maxStreamsPerConnection", (http2, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, MaxStreams, "100", errors,
                "it is how many requests one connection may have in flight at once; clients queue the rest or open another connection") is { } n
                ? http2 with { MaxStreamsPerConnection = n }
                : http2),
    ], new Dictionary<string, string>
    {
        ["maxConcurrentStreams"] = "write 'maxStreamsPerConnection', what the proxy announces as SETTINGS_MAX_CONCURRENT_STREAMS (Envoy's max_concurrent_streams)",
        ["maxResetsPerSecond"] = RapidResetHint,
        ["maxEnhanceYourCalmCount"] = RapidResetHint,
        ["maxRapidResets"] = RapidResetHint,
        ["maxRequestHeadersSize"] = "put it directly under 'proxy:': the header limits apply to HTTP/1.1 and HTTP/2 alike",
        ["maxRequestHeaderCount"] = "put it directly under 'proxy:': the header limits apply to HTTP/1.1 and HTTP/2 alike",
    });

    private const string RapidResetHint = "the rapid-reset guard (CVE-2023-44487) has no key of its own: a connection that keeps more than twice "
        + "'maxStreamsPerConnection' streams open, counting those it reset before the proxy finished them, has them refused with "
        + "ENHANCE_YOUR_CALM, and is closed once that happens over 100 times within 5 seconds or its answers pile up unsent; "
        + "lower 'maxStreamsPerConnection' to tighten it";

    private readonly MappingBinder<ProxySettings> _proxy;

    public ProxySettingsBinder()
    {
        _proxy = new MappingBinder<ProxySettings>(
        [
            new("maxRequestHeadersSize", (proxy, value, path, errors) =>
                ScalarValues.ReadSize(value, path, MinHeadersSize, MaxHeadersSize, "32Ki", errors,
                    "it counts the names and values of all of a request's header fields; write a size such as 32Ki or 64Ki") is { } size
                    ? proxy with { MaxRequestHeadersSize = (int)size }
                    : proxy),
            new("maxRequestHeaderCount", (proxy, value, path, errors) =>
                ScalarValues.ReadInteger(value, path, 1, MaxHeaderCount, "100", errors) is { } n
                    ? proxy with { MaxRequestHeaderCount = n }
                    : proxy),
            new("maxRequestBodySize", (proxy, value, path, errors) =>
                ReadBodySize(value, path, errors, out var size) ? proxy with { MaxRequestBodySize = size } : proxy),
            new("requestHeadersTimeout", (proxy, value, path, errors) =>
                ReadTimeout(value, path, "10s", MaxHeadersTimeout, errors) is { } timeout
                    ? proxy with { RequestHeadersTimeout = timeout }
                    : proxy),
            new("keepAliveTimeout", (proxy, value, path, errors) =>
                ReadTimeout(value, path, "60s", MaxKeepAlive, errors) is { } timeout
                    ? proxy with { KeepAliveTimeout = timeout }
                    : proxy),
            new("http2", (proxy, value, path, errors) => proxy with { Http2 = _http2.Bind(value, new ProxyHttp2Settings(), path, errors) }),
        ], new Dictionary<string, string>
        {
            ["limits"] = "write the limits directly under 'proxy:', such as 'proxy: { maxRequestBodySize: 10Mi }'",
            ["maxRequestHeadersTotalSize"] = "write 'maxRequestHeadersSize' (Kestrel's MaxRequestHeadersTotalSize), such as 'maxRequestHeadersSize: 32Ki'",
            ["maxRequestHeadersKb"] = "write 'maxRequestHeadersSize' with a unit: Envoy's max_request_headers_kb: 60 is 'maxRequestHeadersSize: 60Ki'",
            ["maxHeadersCount"] = "write 'maxRequestHeaderCount' (Envoy's max_headers_count)",
            ["maxRequestBytes"] = "write 'maxRequestBodySize' with a unit, such as 'maxRequestBodySize: 10Mi'",
            ["maxBodyBytes"] = "write 'maxRequestBodySize', such as 'maxRequestBodySize: 10Mi' (a rule's retry.maxBodyBytes is how much of a body is kept to retry it, not a limit)",
            ["maxBodySize"] = "write 'maxRequestBodySize', such as 'maxRequestBodySize: 10Mi'",
            ["idleTimeout"] = "write 'keepAliveTimeout', how long an idle client connection stays open (Envoy's idle_timeout)",
            ["headersTimeout"] = "write 'requestHeadersTimeout', such as 'requestHeadersTimeout: 10s'",
            ["maxStreamsPerConnection"] = "put it under 'http2:', as 'http2: { maxStreamsPerConnection: 100 }'",
            ["maxConcurrentStreams"] = "put it under 'http2:' as 'maxStreamsPerConnection', as 'http2: { maxStreamsPerConnection: 100 }'",
            ["h2"] = "write 'http2'",
        });
    }

    public ProxySettings Bind(ConfigNode? node, string path, ConfigErrorList errors) => _proxy.Bind(node, new ProxySettings(), path, errors);

    /// <summary>A size, or 'unlimited' for none (then <paramref name="size"/> is null); false when the value is wrong.</summary>
    private static bool ReadBodySize(ConfigNode node, string path, ConfigErrorList errors, out long? size)
    {
        size = null;
        if (node is ScalarNode { IsNull: true } or ScalarNode { Value: "" })
        {
            errors.Add(node, $"'{path}' has no value; write a size such as 10Mi, or 'unlimited' for no limit, or remove the key for the default (unlimited)");
            return false;
        }
        if (node is ScalarNode scalar)
        {
            if (scalar.Value == "unlimited")
            {
                return true;
            }
            if (NoLimitSpellings.Contains(scalar.Value.Trim()))
            {
                var meaning = scalar.Value.Trim() == "0" ? "0 would refuse every request that has a body; " : "";
                errors.Add(scalar, $"'{path}' is '{scalar.Value}'; {meaning}write 'unlimited' for no limit, or a size such as 10Mi");
                return false;
            }
        }
        size = ScalarValues.ReadSize(node, path, MinBodySize, MaxBodySize, "10Mi", errors, "write a size such as 10Mi, or 'unlimited' for no limit");
        return size is not null;
    }

    private static TimeSpan? ReadTimeout(ConfigNode node, string path, string example, TimeSpan max, ConfigErrorList errors)
    {
        if (ScalarValues.ReadDuration(node, path, example, errors) is not { } timeout)
        {
            return null;
        }
        if (timeout < MinTimeout || timeout > max)
        {
            errors.Add(node, $"'{path}' is '{((ScalarNode)node).Value}', but must be from 1s to {Format(max)} "
                + $"(the proxy checks its timeouts once a second); write one such as {example}");
            return null;
        }
        return timeout;
    }

    private static string Format(TimeSpan duration) => duration.TotalHours >= 1
        ? $"{duration.TotalHours.ToString("0", CultureInfo.InvariantCulture)}h"
        : $"{duration.TotalMinutes.ToString("0", CultureInfo.InvariantCulture)}m";
}
