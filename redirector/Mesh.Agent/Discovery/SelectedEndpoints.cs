using System.Net;
using Mesh.Config;

namespace Mesh.Agent.Discovery;

/// <summary>Fills in the endpoints of the services that select containers, from the containers discovered now.</summary>
public static class SelectedEndpoints
{
    /// <summary>
    /// <paramref name="config"/> with each selecting service's endpoints set to the addresses of the containers it
    /// selects (every address of each, v4 and v6), sorted so that the same containers give an equal config.
    /// </summary>
    public static MeshConfig Apply(MeshConfig config, IReadOnlyList<DiscoveredContainer> containers)
    {
        if (!config.Services.Any(service => service.Selector.Count > 0))
        {
            return config;
        }
        var services = config.Services.Select(service => service.Selector.Count == 0
            ? service
            : service with
            {
                Endpoints = ValueList.From(containers
                    .Where(container => container.IsSelectedBy(service.Selector))
                    .SelectMany(container => container.Addresses.Select(address => new IPEndPoint(address, container.PortFor(service.Port))))
                    .Distinct()
                    .OrderBy(endpoint => endpoint.ToString(), StringComparer.Ordinal)),
            });
        return config with { Services = ValueList.From(services) };
    }
}
