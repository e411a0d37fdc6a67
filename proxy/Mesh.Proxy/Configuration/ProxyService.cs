using System.Net;

namespace Mesh.Proxy.Configuration;

/// <summary>
/// One service with HTTP policy, as the proxy sees it. Connections that local apps open to
/// <see cref="Address"/> are diverted to the proxy, which applies <see cref="Routes"/> in order and forwards to
/// <see cref="Endpoints"/> (or to the services a route's backends name). The model is the proxy's own: the YAML
/// model in Mesh.Config has the same semantics and a mapping layer translates it.
/// </summary>
public sealed record ProxyService
{
    /// <summary>Unique name; routes refer to services by it (backends, mirrors, authorization sources).</summary>
    public required string Name { get; init; }

    /// <summary>The service address:port that clients connect to (the original destination of diverted connections).</summary>
    public required IPEndPoint Address { get; init; }

    /// <summary>The workload endpoints behind the service. May be empty (then forwarding to it answers 503).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; init; } = [];

    /// <summary>How the proxy speaks to <see cref="Endpoints"/>.</summary>
    public UpstreamProtocol Protocol { get; init; } = UpstreamProtocol.Http1;

    /// <summary>What happens to a request that no route matches: forwarded to this service's endpoints, or 403.</summary>
    public ProxyAction Default { get; init; } = ProxyAction.Allow;

    /// <summary>Routes in precedence order: the first route with a matching rule wins.</summary>
    public IReadOnlyList<ProxyRoute> Routes { get; init; } = [];

    /// <summary>
    /// The client addresses of this service's own workloads. A request whose source address falls in one of them comes
    /// from this service; that is how <see cref="ProxyAuthorization.AllowedSources"/> identifies callers.
    /// </summary>
    public IReadOnlyList<IPNetwork> SourceCidrs { get; init; } = [];

    /// <summary>
    /// Cgroup v2 ids (as the kernel numbers cgroups) whose processes are this service when they are the client; a
    /// client in such a cgroup is this service whatever its address. Recognised by the kernel at connect().
    /// </summary>
    public IReadOnlyList<ulong> SourceCgroupIds { get; init; } = [];

    /// <summary>
    /// Names of workloads (network namespaces the proxy listens in) whose clients are this service; known by the
    /// listener a connection arrived on, which no client can choose.
    /// </summary>
    public IReadOnlyList<string> SourceWorkloads { get; init; } = [];

    /// <summary>Optional authorization applied to every request to the service, before route matching.</summary>
    public ProxyAuthorization? Authorization { get; init; }
}

/// <summary>The protocol towards a service's endpoints.</summary>
public enum UpstreamProtocol
{
    /// <summary>HTTP/1.1.</summary>
    Http1,

    /// <summary>HTTP/2 over cleartext with prior knowledge.</summary>
    H2c,
}

/// <summary>Allow (forward) or deny (403) a request.</summary>
public enum ProxyAction
{
    /// <summary>Forward the request.</summary>
    Allow,

    /// <summary>Answer 403 with an <c>x-mesh-deny-reason</c> header; the request never reaches an upstream.</summary>
    Deny,
}
