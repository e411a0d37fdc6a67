namespace Mesh.Agent.Services;

/// <summary>A translated service as `mesh status` lists it.</summary>
public sealed record ServiceStatus(string Name, string Address, string Protocol, IReadOnlyList<EndpointStatus> Endpoints);

/// <summary>An endpoint of a translated service, its weight and whether it gets new connections.</summary>
public sealed record EndpointStatus(string EndPoint, int Weight, bool Healthy);
