using Mesh.Proxy;
using Cfg = Mesh.Config;

namespace Mesh.Agent.L7;

/// <summary>The <c>proxy</c> section.</summary>
internal sealed partial class ProxyModelMapper
{
    /// <summary>The proxy listener's limits on what one client may send, one to one from the file (or its defaults).</summary>
    public MeshProxyLimits MapLimits(Cfg.ProxySettings proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        return new MeshProxyLimits
        {
            MaxRequestHeadersTotalSize = proxy.MaxRequestHeadersSize,
            MaxRequestHeaderCount = proxy.MaxRequestHeaderCount,
            MaxRequestBodySize = proxy.MaxRequestBodySize,
            RequestHeadersTimeout = proxy.RequestHeadersTimeout,
            KeepAliveTimeout = proxy.KeepAliveTimeout,
            Http2MaxStreamsPerConnection = proxy.Http2.MaxStreamsPerConnection,
        };
    }
}
