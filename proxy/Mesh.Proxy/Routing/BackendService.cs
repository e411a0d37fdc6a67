using System.Net;
using Mesh.Config;

namespace Mesh.Proxy.Routing;

/// <summary>A service as a forwarding target: its YARP route and cluster, and its endpoints.</summary>
internal sealed class BackendService
{
    public BackendService(ServiceConfig service)
    {
        Service = service;
        YarpId = YarpIds.ForService(service.Name);
        Endpoints = [.. service.Endpoints.Select(Addresses.Normalize)];
    }

    public ServiceConfig Service { get; }

    public string Name => Service.Name;

    /// <summary>The id of the YARP route and cluster that forward to this service.</summary>
    public string YarpId { get; }

    public IPEndPoint[] Endpoints { get; }
}

/// <summary>Ids of the YARP objects generated from the services.</summary>
internal static class YarpIds
{
    public static string ForService(string service) => "mesh:" + service;

    public static string ForDestination(IPEndPoint endpoint) => endpoint.ToString();
}

internal static class Addresses
{
    public static IPAddress Normalize(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public static IPEndPoint Normalize(IPEndPoint endpoint) =>
        endpoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint;

    /// <summary>"http://10.0.0.1:8080/" or "http://[fd00::1]:8080/".</summary>
    public static string HttpPrefix(IPEndPoint endpoint) => $"http://{endpoint}/";
}
