using Mesh.Agent.L7;
using Mesh.Config;
using Mesh.Proxy;
using Mesh.Testing;

namespace Mesh.Agent.Tests.L7;

public class ProxyModelMapperLimitsTests
{
    private readonly ProxyModelMapper _mapper = new();

    [Fact]
    public void MapLimits_NoSection_IsTheProxysDefaults()
    {
        var limits = _mapper.MapLimits(new ProxySettings());
        var defaults = new MeshProxyLimits();

        Assert.Equal(defaults.MaxRequestHeadersTotalSize, limits.MaxRequestHeadersTotalSize);
        Assert.Equal(defaults.MaxRequestHeaderCount, limits.MaxRequestHeaderCount);
        Assert.Equal(defaults.MaxRequestBodySize, limits.MaxRequestBodySize);
        Assert.Equal(defaults.RequestHeadersTimeout, limits.RequestHeadersTimeout);
        Assert.Equal(defaults.KeepAliveTimeout, limits.KeepAliveTimeout);
        Assert.Equal(defaults.Http2MaxStreamsPerConnection, limits.Http2MaxStreamsPerConnection);
    }

    [Fact]
    public void MapLimits_EveryKeySet_CarriesEachValue()
    {
        var config = new MeshConfigLoader().Parse("""
            proxy:
              maxRequestHeadersSize: 64Ki
              maxRequestHeaderCount: 50
              maxRequestBodySize: unlimited
              requestHeadersTimeout: 3s
              keepAliveTimeout: 2m
              http2: { maxStreamsPerConnection: 20 }
            """, "mesh.yaml").Config!;

        var limits = _mapper.MapLimits(config.Proxy);

        Assert.Equal(64 * 1024, limits.MaxRequestHeadersTotalSize);
        Assert.Equal(50, limits.MaxRequestHeaderCount);
        Assert.Null(limits.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(3), limits.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), limits.KeepAliveTimeout);
        Assert.Equal(20, limits.Http2MaxStreamsPerConnection);
    }

    [Fact]
    public void MapLimits_ExampleFile_WritesTheDefaults()
    {
        var config = new MeshConfigLoader().Load(RepositoryFiles.FullPath("config/examples/l7-limits.yaml")).Config!;

        Assert.Equal(new ProxySettings(), config.Proxy);
        Assert.Null(_mapper.MapLimits(config.Proxy).MaxRequestBodySize);
        Assert.Empty(_mapper.Map(config).Warnings);
    }
}
