using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The <c>proxy</c> section: the limits read with their units, and mistakes reported at their line and column with what to write.</summary>
public class ProxyBindingTests
{
    [Fact]
    public void Parse_NoProxySection_HasTheDocumentedDefaults()
    {
        var proxy = Valid("splice: on\n").Proxy;

        Assert.Equal(new ProxySettings(), proxy);
        Assert.Equal(32 * 1024, proxy.MaxRequestHeadersSize);
        Assert.Equal(100, proxy.MaxRequestHeaderCount);
        Assert.Null(proxy.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(10), proxy.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), proxy.KeepAliveTimeout);
        Assert.Equal(100, proxy.Http2.MaxStreamsPerConnection);
    }

    [Fact]
    public void Parse_EveryKeySet_ReturnsValues()
    {
        var proxy = Valid("""
            proxy:
              maxRequestHeadersSize: 64Ki
              maxRequestHeaderCount: 200
              maxRequestBodySize: 1Gi
              requestHeadersTimeout: 5s
              keepAliveTimeout: 2m
              http2:
                maxStreamsPerConnection: 250
            """).Proxy;

        Assert.Equal(64 * 1024, proxy.MaxRequestHeadersSize);
        Assert.Equal(200, proxy.MaxRequestHeaderCount);
        Assert.Equal(1L << 30, proxy.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(5), proxy.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), proxy.KeepAliveTimeout);
        Assert.Equal(250, proxy.Http2.MaxStreamsPerConnection);
    }

    [Theory]
    [InlineData("65536", 65536)]
    [InlineData("64Ki", 65536)]
    [InlineData("1Mi", 1048576)]
    [InlineData("\"2Mi\"", 2097152)]
    [InlineData("8Mi", 8388608)]
    [InlineData("1Ki", 1024)]
    public void Parse_HeadersSize_ReadsBytesAndBinaryUnits(string size, int expected)
    {
        Assert.Equal(expected, Valid($"proxy:\n  maxRequestHeadersSize: {size}\n").Proxy.MaxRequestHeadersSize);
    }

    [Fact]
    public void Parse_BodySizeUnlimited_IsNoLimit()
    {
        Assert.Null(Valid("proxy:\n  maxRequestBodySize: unlimited\n").Proxy.MaxRequestBodySize);
    }

    [Fact]
    public void Parse_EmptySections_AreDefaults()
    {
        Assert.Equal(new ProxySettings(), Valid("proxy:\n  # maxRequestBodySize: 1Mi\n  http2:\n").Proxy);
    }

    [Theory]
    [InlineData("10MB", "'MB' is not a unit here", "write 10Mi for 10 × 1024² bytes")]
    [InlineData("64k", "'k' is not a unit here", "write 64Ki")]
    [InlineData("10MiB", "not a size", "write 10Mi: the B is implied")]
    [InlineData("10mi", "not a size", "write 10Mi (the case matters)")]
    [InlineData("10 Mi", "not a size", "write 10Mi, without a space")]
    [InlineData("1.5Mi", "not a size", "write a whole number: 1.5Mi is 1536Ki")]
    [InlineData("100B", "not a size", "write 100 without a unit")]
    [InlineData("lots", "not a size", "such as 10Mi")]
    [InlineData("0", "0 would refuse every request that has a body", "write 'unlimited' for no limit")]
    [InlineData("-1", "write 'unlimited' for no limit", "or a size such as 10Mi")]
    [InlineData("none", "write 'unlimited' for no limit", "or a size such as 10Mi")]
    [InlineData("2048Gi", "must be from 1 to 1024Gi", "or 'unlimited' for no limit")]
    [InlineData("2Ti", "not a size", "the largest unit is Gi; write 2048Gi")]
    [InlineData("\"\"", "has no value", "or remove the key for the default (unlimited)")]
    [InlineData("99999999999999999999Gi", "must be from 1 to 1024Gi", "or 'unlimited' for no limit")]
    public void Parse_BadBodySize_SaysWhatToWrite(string size, string problem, string fix)
    {
        var error = SingleError($"proxy:\n  maxRequestBodySize: {size}\n");

        AssertError(error, 2, 23, "'proxy.maxRequestBodySize'", problem, fix);
    }

    [Theory]
    [InlineData("512", "must be from 1Ki to 8Mi")]
    [InlineData("16Mi", "must be from 1Ki to 8Mi")]
    [InlineData("unlimited", "not a size")]
    [InlineData("{ kb: 32 }", "expects a size from 1Ki to 8Mi")]
    public void Parse_BadHeadersSize_SaysWhatToWrite(string size, string problem)
    {
        var error = SingleError($"proxy:\n  maxRequestHeadersSize: {size}\n");

        AssertError(error, 2, 26, "'proxy.maxRequestHeadersSize'", problem);
    }

    [Theory]
    [InlineData("maxRequestHeaderCount: 0", 26, "must be from 1 to 10000")]
    [InlineData("maxRequestHeaderCount: 100000", 26, "must be from 1 to 10000")]
    [InlineData("requestHeadersTimeout: 500ms", 26, "must be from 1s to 10m (the proxy checks its timeouts once a second)")]
    [InlineData("requestHeadersTimeout: 10", 26, "has no unit; write 10s")]
    [InlineData("keepAliveTimeout: 2h", 21, "must be from 1s to 1h")]
    public void Parse_BadNumberOrDuration_SaysWhatToWrite(string line, int column, string problem)
    {
        AssertError(SingleError($"proxy:\n  {line}\n"), 2, column, problem);
    }

    [Fact]
    public void Parse_BadStreamCount_SaysWhatItIs()
    {
        var error = SingleError("proxy:\n  http2:\n    maxStreamsPerConnection: 0\n");

        AssertError(error, 3, 30, "'proxy.http2.maxStreamsPerConnection' is 0, but must be from 1 to 10000", "requests one connection may have in flight");
    }

    [Theory]
    [InlineData("proxy:\n  maxRequestHeadersTotalSize: 32Ki\n", 2, 3, "write 'maxRequestHeadersSize' (Kestrel's MaxRequestHeadersTotalSize)")]
    [InlineData("proxy:\n  maxRequestHeadersKb: 60\n", 2, 3, "'maxRequestHeadersSize: 60Ki'")]
    [InlineData("proxy:\n  idleTimeout: 60s\n", 2, 3, "write 'keepAliveTimeout'")]
    [InlineData("proxy:\n  maxStreamsPerConnection: 100\n", 2, 3, "put it under 'http2:'")]
    [InlineData("proxy:\n  limits:\n    maxRequestBodySize: 1Mi\n", 2, 3, "write the limits directly under 'proxy:'")]
    [InlineData("proxy:\n  http2:\n    maxConcurrentStreams: 100\n", 3, 5, "write 'maxStreamsPerConnection'")]
    [InlineData("proxy:\n  http2:\n    maxResetsPerSecond: 100\n", 3, 5, "the rapid-reset guard (CVE-2023-44487) has no key of its own")]
    [InlineData("limits:\n  maxRequestBodySize: 1Mi\n", 1, 1, "put the node proxy's limits under 'proxy:'")]
    public void Parse_OtherToolsSpelling_SaysWhatToWrite(string yaml, int line, int column, string fix)
    {
        AssertError(SingleError(yaml), line, column, "unknown key", fix);
    }

    [Fact]
    public void Parse_MisspelledKey_SuggestsClosestKey()
    {
        var error = SingleError("proxy:\n  maxRequestBodySise: 1Mi\n");

        Assert.Equal(new ConfigError(FileName, 2, 3, "unknown key 'maxRequestBodySise' in 'proxy'; did you mean 'maxRequestBodySize'?"), error);
    }

    [Fact]
    public void Parse_SeveralMistakes_ReportsEachInFileOrder()
    {
        var errors = Errors("""
            proxy:
              maxRequestHeadersSize: 32KB
              maxRequestBodySize: 0
              http2:
                maxStreamsPerConnection: many
            """);

        Assert.Collection(errors,
            e => AssertError(e, 2, 26, "'proxy.maxRequestHeadersSize'", "write 32Ki"),
            e => AssertError(e, 3, 23, "'proxy.maxRequestBodySize'", "'unlimited'"),
            e => AssertError(e, 5, 30, "'proxy.http2.maxStreamsPerConnection'", "not a whole number"));
    }
}
