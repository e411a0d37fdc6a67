using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Mesh.Proxy.Management;

/// <summary>Reports a config version that YARP itself refused (it then keeps serving the previous one).</summary>
internal sealed partial class ConfigChangeLogger(ILogger<ConfigChangeLogger> logger) : IConfigChangeListener
{
    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception) =>
        Log.YarpConfigFailed(logger, "load", exception);

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception) =>
        Log.YarpConfigFailed(logger, "apply", exception);

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.YarpConfigFailed, Level = LogLevel.Error,
            Message = "YARP failed to {Stage} the generated proxy config; the previous one stays in effect")]
        public static partial void YarpConfigFailed(ILogger logger, string stage, Exception exception);
    }
}
