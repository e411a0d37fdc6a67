using System.Net.Sockets;
using Mesh.Config;
using Mesh.Datapath.Maps;

namespace Mesh.Agent.Services;

/// <summary>The config's services as the kernel translates them: every service whose endpoints are not only its own address.</summary>
internal static class ServiceCompiler
{
    public static IEnumerable<ServiceConfig> Translated(MeshConfig config) => config.Services.Where(service => service.IsTranslated);

    /// <summary>What each endpoint of <paramref name="service"/> is probed with; UDP ones are not probed (always healthy).</summary>
    public static IEnumerable<ProbeTarget> Targets(ServiceConfig service) =>
        service.TranslatableEndpoints.Select(endpoint => new ProbeTarget(endpoint, service.HealthCheck));

    public static ProtocolType ProtocolOf(ServiceConfig service) => service.Transport == ServiceTransport.Udp ? ProtocolType.Udp : ProtocolType.Tcp;

    /// <summary>The service with its healthy endpoints only: none healthy, and the kernel refuses its connections at once.</summary>
    public static BalancedService Compile(ServiceConfig service, Func<ProbeTarget, bool> isHealthy) => new(
        service.EndPoint,
        ProtocolOf(service),
        [.. Targets(service).Where(isHealthy).Select(target => new WeightedEndpoint(target.EndPoint, service.WeightOf(target.EndPoint)))]);
}
