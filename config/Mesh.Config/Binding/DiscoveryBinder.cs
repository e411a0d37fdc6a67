using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds the <c>discovery</c> section.</summary>
internal sealed class DiscoveryBinder
{
    private readonly MappingBinder<DockerDiscoverySettings> _docker = new(
    [
        new("socket", (docker, value, path, errors) =>
            ScalarValues.ReadAbsolutePath(value, path, DockerDiscoverySettings.DefaultSocket, DockerDiscoverySettings.DefaultSocket, errors) is { } socket
                ? docker with { Socket = socket }
                : docker),
    ]);

    private readonly MappingBinder<DiscoverySettings> _discovery;

    public DiscoveryBinder()
    {
        _discovery = new(
        [
            new("docker", (discovery, value, path, errors) => discovery with { Docker = _docker.Bind(value, new DockerDiscoverySettings(), path, errors) }),
        ], new Dictionary<string, string>
        {
            ["kubernetes"] = "Mesh discovers Docker containers so far; list Kubernetes endpoints under the service's 'endpoints'",
        });
    }

    public DiscoverySettings Bind(ConfigNode? node, string path, ConfigErrorList errors) => _discovery.Bind(node, new DiscoverySettings(), path, errors);
}
