using Mesh.Agent.L7;
using Mesh.Config;
using Mesh.Proxy.Configuration;

namespace Mesh.Agent.Tests.L7;

/// <summary>Loads YAML as the agent does and maps it; every mapping must pass the proxy's own validation.</summary>
internal static class MapperRuns
{
    private static readonly MeshConfigLoader Loader = new();

    public static MeshConfig Load(string yaml)
    {
        var result = Loader.Parse(yaml, "mesh.yaml");
        Assert.Empty(result.Errors);
        return result.Config!;
    }

    public static ProxyMapping Map(string yaml) => MapValid(Load(yaml));

    public static ProxyMapping MapValid(MeshConfig config)
    {
        var mapping = new ProxyModelMapper().Map(config);
        Assert.Empty(ProxyConfigValidator.Validate(mapping.Services));
        return mapping;
    }

    public static ProxyService Service(this ProxyMapping mapping, string name) => Assert.Single(mapping.Services, s => s.Name == name);

    public static ProxyRoute Route(this ProxyMapping mapping, string service, string route) =>
        Assert.Single(mapping.Service(service).Routes, r => r.Name == route);

    /// <summary>The single route of a mapping of one service with one rule named 'r'.</summary>
    public static ProxyRoute Only(this ProxyMapping mapping) => mapping.Route("web", "r");
}
