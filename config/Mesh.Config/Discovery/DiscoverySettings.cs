namespace Mesh.Config;

/// <summary>The <c>discovery</c> section: where the agent learns endpoints that the file does not list.</summary>
public sealed record DiscoverySettings
{
    public DockerDiscoverySettings Docker { get; init; } = new();
}

/// <summary>Containers of the node's Docker daemon, selected by their labels (a service's <c>selector</c>).</summary>
public sealed record DockerDiscoverySettings
{
    public const string DefaultSocket = "/var/run/docker.sock";

    /// <summary>The Engine API's Unix socket. Where none exists, Docker discovery is off.</summary>
    public string Socket { get; init; } = DefaultSocket;

    /// <summary>The container label whose value is the endpoint's port; a container without it serves the service's port.</summary>
    public const string PortLabel = "mesh.port";
}
