namespace Mesh.Config;

/// <summary>
/// The node agent's config file, one property per top-level section. A key that is absent
/// from the file keeps the default set here, so an empty file is a complete config.
/// </summary>
public sealed record MeshConfig
{
    /// <summary>
    /// Whether local TCP connections are spliced in the kernel. It only accelerates them:
    /// with it off, the same traffic flows through the TCP stack.
    /// </summary>
    public bool Splice { get; init; } = true;

    /// <summary>Where the agent attaches in the kernel.</summary>
    public AgentSettings Agent { get; init; } = new();

    /// <summary>Where endpoints come from besides the file: the containers of the node's Docker daemon.</summary>
    public DiscoverySettings Discovery { get; init; } = new();

    /// <summary>The services on the node, in file order; those with HTTP policy go through the node proxy.</summary>
    public ValueList<ServiceConfig> Services { get; init; } = [];

    /// <summary>The workloads the config names, for sources (<c>source: { workload: web }</c>) and `mesh status`. Default: none.</summary>
    public ValueList<WorkloadConfig> Workloads { get; init; } = [];

    /// <summary>The packet filter at the node's interfaces (XDP). Default: no interfaces and no rules, so everything passes.</summary>
    public L4Policy L4 { get; init; } = new();

    /// <summary>The node proxy's traces and metrics (OTLP). Default: what the OTEL_* environment says, or none.</summary>
    public TelemetrySettings Telemetry { get; init; } = new();

    /// <summary>The node proxy's limits on what one client may send. Default: the limits documented in <see cref="ProxySettings"/>.</summary>
    public ProxySettings Proxy { get; init; } = new();
}
