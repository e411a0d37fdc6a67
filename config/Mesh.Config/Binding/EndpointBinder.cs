using System.Net;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds one item of a service's <c>endpoints</c>: <c>127.0.0.1:9001</c>, or <c>endpoint: 127.0.0.1:9001</c> with a <c>weight</c>.</summary>
internal sealed class EndpointBinder
{
    private static readonly IPEndPoint NoEndpoint = new(IPAddress.None, 0);

    private readonly MappingBinder<EndpointWeight> _weighted = new(
    [
        new("endpoint", (weighted, value, path, errors) =>
            NetworkValues.ReadEndpoint(value, path, errors) is { } endpoint ? weighted with { EndPoint = endpoint } : weighted, Required: "endpoint: 127.0.0.1:9001"),
        new("weight", (weighted, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, 1000, "3", errors) is { } weight ? weighted with { Weight = weight } : weighted),
    ], new Dictionary<string, string>
    {
        ["address"] = "write 'endpoint: address:port'",
        ["addresses"] = "write one item per endpoint, each 'endpoint: address:port'",
    });

    /// <summary>The endpoint and its weight (1 unless given), or null when the item is not valid.</summary>
    public EndpointWeight? Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        // An unquoted [::1]:9002 reads as a mapping with a list for key: the endpoint reader explains the quoting.
        if (node is not MappingNode mapping || mapping.Entries.Any(entry => entry.Key is not ScalarNode))
        {
            return NetworkValues.ReadEndpoint(node, path, errors) is { } endpoint ? new EndpointWeight(endpoint, 1) : null;
        }
        var before = errors.Count;
        var weighted = _weighted.Bind(node, new EndpointWeight(NoEndpoint, 1), path, errors);
        return errors.Count == before ? weighted : null;
    }
}

/// <summary>The words of a service's <c>protocol</c>: the HTTP version of its endpoints, or UDP.</summary>
internal readonly record struct ServiceProtocol(UpstreamProtocol Upstream, ServiceTransport Transport)
{
    public static readonly (string, ServiceProtocol)[] Words =
    [
        ("http1", new(UpstreamProtocol.Http1, ServiceTransport.Tcp)),
        ("h2c", new(UpstreamProtocol.H2c, ServiceTransport.Tcp)),
        ("udp", new(UpstreamProtocol.Http1, ServiceTransport.Udp)),
    ];
}
