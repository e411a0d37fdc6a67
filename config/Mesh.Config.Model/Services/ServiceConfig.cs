using System.Net;

namespace Mesh.Config;

/// <summary>
/// One entry of the <c>services</c> section: a service that applications on the node reach at
/// <see cref="Address"/>:<see cref="Port"/>. A service with HTTP policy has its connections
/// diverted to the node's proxy, which applies <see cref="Rules"/>; any other service is only spliced.
/// </summary>
public sealed partial record ServiceConfig
{
    /// <summary>Unique in the file, a DNS label (lower-case letters, digits and '-'); other services' backendRefs, mirrors and allowFrom name it.</summary>
    public required string Name { get; init; }

    /// <summary>The address clients dial: a virtual address, or the address of a real listener.</summary>
    public required IPAddress Address { get; init; }

    /// <summary>The port clients dial, 1..65535. No two services share an address and port.</summary>
    public required int Port { get; init; }

    /// <summary><see cref="Address"/> and <see cref="Port"/> together.</summary>
    public IPEndPoint EndPoint => new(Address, Port);

    /// <summary>
    /// Where the service runs, which the proxy forwards to: listed in the file, or found by <see cref="Selector"/>
    /// (then empty until a container is selected). When the file has neither, it holds <see cref="EndPoint"/> itself.
    /// </summary>
    public ValueList<IPEndPoint> Endpoints { get; init; } = [];

    /// <summary>The labels that select the service's containers (discovery); empty when the file lists the endpoints.</summary>
    public ValueList<LabelMatch> Selector { get; init; } = [];

    /// <summary>The HTTP version the endpoints speak: HTTP/1.1, or HTTP/2 over cleartext with prior knowledge (h2c).</summary>
    public UpstreamProtocol Protocol { get; init; } = UpstreamProtocol.Http1;

    /// <summary>What happens to this service's connections while the node proxy is down.</summary>
    public FailMode FailMode { get; init; } = FailMode.Closed;

    /// <summary>What happens to a request that no rule matches: passed to the endpoints, or answered 403.</summary>
    public RouteAction Default { get; init; } = RouteAction.Allow;

    /// <summary>How other services recognise a connection from this one; null when none authorizes it by name.</summary>
    public ServiceSource? Source { get; init; }

    /// <summary>The HTTP rules, tried in order; the first rule with a matching match handles the request.</summary>
    public ValueList<HttpRouteRule> Rules { get; init; } = [];

    /// <summary>
    /// Whether connections to the service go through the node proxy: it has a rule, or it denies
    /// unmatched requests. Without HTTP policy the proxy would only pass requests through.
    /// </summary>
    public bool HasHttpPolicy => Rules.Count > 0 || Default == RouteAction.Deny;
}

/// <summary>The HTTP version a service's endpoints speak.</summary>
public enum UpstreamProtocol
{
    /// <summary>HTTP/1.1. The default.</summary>
    Http1,

    /// <summary>HTTP/2 over cleartext, with prior knowledge (no upgrade), as gRPC servers speak it.</summary>
    H2c,
}

/// <summary>What happens to connections of a service with HTTP policy while the node proxy is down.</summary>
public enum FailMode
{
    /// <summary>They fail: the policy is never bypassed. The default.</summary>
    Closed,

    /// <summary>They go straight to the endpoints without the HTTP policy, so the service stays reachable.</summary>
    Open,
}

/// <summary>Whether a request is served or refused with 403.</summary>
public enum RouteAction
{
    Allow,
    Deny,
}

/// <summary>
/// How a connection is recognised as coming from a service, for <see cref="AuthorizationPolicy.AllowFrom"/>.
/// A connection comes from the service when its source address is in one of <see cref="Cidrs"/>, its client socket
/// belongs to <see cref="Cgroup"/> (or a cgroup below it), or it comes from a workload <see cref="Workload"/> names or
/// <see cref="Labels"/> select. At least one is set; <see cref="Workload"/> and <see cref="Labels"/> exclude each other.
/// </summary>
public sealed record ServiceSource
{
    public ValueList<IPNetwork> Cidrs { get; init; } = [];

    /// <summary>An absolute cgroup v2 directory, or null.</summary>
    public string? Cgroup { get; init; }

    /// <summary>The name of a workload under <c>workloads</c>: connections from its network namespace, told by the proxy's listener there; or null.</summary>
    public string? Workload { get; init; }

    /// <summary>
    /// Connections from any workload with every one of these labels (its containers' Docker labels, or its labels under
    /// <c>workloads</c>), told by the proxy's listener in its namespace; empty when none.
    /// </summary>
    public ValueList<LabelMatch> Labels { get; init; } = [];
}
