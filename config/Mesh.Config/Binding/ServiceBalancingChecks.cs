using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>The checks across a service's keys that its translation in the kernel needs.</summary>
internal static class ServiceBalancingChecks
{
    public static void Check(ServiceConfig service, ConfigNode? endpointsNode, string path, ConfigNode serviceNode, ConfigErrorList errors)
    {
        if (endpointsNode is not null && service.Endpoints.Count > 0 && service.Endpoints.All(endpoint => endpoint.Equals(service.EndPoint)))
        {
            errors.Add(endpointsNode, $"'{path}.endpoints' lists only the service's own address {service.EndPoint}, so connections to it would be sent back to it; "
                + "list where the service runs, or remove 'endpoints' when a server listens at the service address itself");
        }
        if (service.Transport == ServiceTransport.Udp && service.HasHttpPolicy)
        {
            errors.Add(serviceNode, $"'{path}' is a UDP service with HTTP policy ('rules' or 'default: deny'), which only TCP services can have; remove the policy or 'protocol: udp'");
        }
        if (service.Transport == ServiceTransport.Udp && (serviceNode as MappingNode)?.Find("healthCheck") is { } check)
        {
            errors.Add(check.Key, $"'{path}.healthCheck' is set on a UDP service, whose endpoints are not probed (a TCP or HTTP check says nothing about a UDP server); remove it");
        }
    }
}
