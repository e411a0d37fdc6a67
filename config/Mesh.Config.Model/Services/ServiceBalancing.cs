using System.Net;

namespace Mesh.Config;

/// <summary>How the kernel balances a service's connections over its endpoints, and how the agent checks them.</summary>
public sealed partial record ServiceConfig
{
    /// <summary>TCP, or UDP (<c>protocol: udp</c>): datagrams to the service go to an endpoint, and replies come from the service.</summary>
    public ServiceTransport Transport { get; init; } = ServiceTransport.Tcp;

    /// <summary>The endpoints given a weight other than 1 (<c>- endpoint: ..., weight: 3</c>).</summary>
    public ValueList<EndpointWeight> Weights { get; init; } = [];

    /// <summary>How the agent probes the endpoints; an endpoint failing it gets no new connection. UDP endpoints are not probed.</summary>
    public HealthCheck HealthCheck { get; init; } = new();

    /// <summary>The share of connections <paramref name="endpoint"/> gets, relative to the others' weights.</summary>
    public int WeightOf(IPEndPoint endpoint) => Weights.FirstOrDefault(weight => weight.EndPoint.Equals(endpoint))?.Weight ?? 1;

    /// <summary>
    /// The endpoints a connect() to the service can be translated to: those of the service address's family (v4-mapped
    /// ones as IPv4), since a socket keeps its family. The proxy reaches the others for a service with HTTP policy.
    /// </summary>
    public IEnumerable<IPEndPoint> TranslatableEndpoints => Endpoints
        .Select(endpoint => endpoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint)
        .Where(endpoint => endpoint.AddressFamily == Address.AddressFamily);

    /// <summary>
    /// Whether the kernel translates the service address to the endpoints: always for a service that selects containers
    /// (with none running, a connect is refused); else not when its only endpoint is its own address (a real listener,
    /// the default when the file lists no endpoints), nor when none is translatable.
    /// </summary>
    public bool IsTranslated => Selector.Count > 0 || (!(Endpoints.Count == 1 && Endpoints[0].Equals(EndPoint)) && TranslatableEndpoints.Any());
}

/// <summary>The transport of a service.</summary>
public enum ServiceTransport
{
    Tcp,
    Udp,
}

/// <summary>An endpoint's weight: it gets Weight connections for every one an endpoint of weight 1 gets.</summary>
public sealed record EndpointWeight(IPEndPoint EndPoint, int Weight);

/// <summary>
/// A service's endpoint health check. Each endpoint is probed every <see cref="Interval"/>; after
/// <see cref="UnhealthyThreshold"/> failures in a row it gets no new connection, after <see cref="HealthyThreshold"/>
/// successes in a row it gets them again. The defaults take a dead endpoint out within about 1 s.
/// </summary>
public sealed record HealthCheck
{
    /// <summary>A TCP connect (the default), or an HTTP GET of <see cref="Path"/> that must answer 2xx or 3xx.</summary>
    public HealthCheckKind Kind { get; init; } = HealthCheckKind.Tcp;

    /// <summary>The path an HTTP check requests.</summary>
    public string Path { get; init; } = "/";

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long one probe may take before it counts as failed; at most <see cref="Interval"/>.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(500);

    public int HealthyThreshold { get; init; } = 2;

    public int UnhealthyThreshold { get; init; } = 2;
}

/// <summary>How an endpoint is probed.</summary>
public enum HealthCheckKind
{
    Tcp,
    Http,
}
