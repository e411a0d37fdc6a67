using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the file's top level: its own keys, and each section through that section's binder.</summary>
internal sealed class MeshConfigBinder
{
    private readonly MappingBinder<MeshConfig> _mapping;

    public MeshConfigBinder(AgentSettingsBinder agent, DiscoveryBinder discovery, ServicesBinder services, L4PolicyBinder l4, TelemetryBinder telemetry, ProxySettingsBinder proxy, WorkloadsBinder workloads)
    {
        _mapping = new MappingBinder<MeshConfig>(
        [
            new("splice", (config, value, path, errors) =>
                ScalarValues.ReadSwitch(value, path, errors) is { } splice ? config with { Splice = splice } : config),
            new("agent", (config, value, path, errors) => config with { Agent = agent.Bind(value, path, errors) }),
            new("discovery", (config, value, path, errors) => config with { Discovery = discovery.Bind(value, path, errors) }),
            new("services", (config, value, path, errors) => config with { Services = services.Bind(value, path, errors) }),
            new("workloads", (config, value, path, errors) => config with { Workloads = workloads.Bind(value, path, errors) }),
            new("l4", (config, value, path, errors) => config with { L4 = l4.Bind(value, path, errors) }),
            new("telemetry", (config, value, path, errors) => config with { Telemetry = telemetry.Bind(value, path, errors) }),
            new("proxy", (config, value, path, errors) => config with { Proxy = proxy.Bind(value, path, errors) }),
        ], new Dictionary<string, string>
        {
            ["limits"] = "put the node proxy's limits under 'proxy:', such as 'proxy: { maxRequestBodySize: 10Mi }'",
            ["http2"] = "put it under 'proxy:', as 'proxy: { http2: { maxStreamsPerConnection: 100 } }'",
        });
    }

    /// <param name="root">The document's root, or null for a file with no document, which means all defaults.</param>
    public MeshConfig Bind(ConfigNode? root, ConfigErrorList errors) => _mapping.Bind(root, new MeshConfig(), path: null, errors);
}
