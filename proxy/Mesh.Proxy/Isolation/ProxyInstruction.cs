using System.Net;
using Mesh.Config;
using Mesh.Proxy.Telemetry;

namespace Mesh.Proxy.Isolation;

/// <summary>
/// What the agent tells the node proxy's process, one per line on its standard input: the first starts the proxy,
/// each later one replaces its services. The proxy answers each with a <see cref="ProxyAcknowledgement"/>.
/// </summary>
public sealed record ProxyInstruction
{
    /// <summary>Grows with each instruction; the acknowledgement carries it back.</summary>
    public required long Generation { get; init; }

    /// <summary>Set on the first instruction only: how the proxy listens, read once.</summary>
    public ProxyStartSettings? Start { get; init; }

    /// <summary>Every service of the config, with its rules, compiled by the proxy like any update.</summary>
    public required ValueList<ServiceConfig> Services { get; init; }

    /// <summary>The kernel's id of each source cgroup the services name, by path, as the agent resolved them.</summary>
    public IReadOnlyDictionary<string, ulong> SourceCgroupIds { get; init; } = new Dictionary<string, ulong>();
}

/// <summary>What the proxy's host takes once, when it starts (see <see cref="MeshProxyHostOptions"/>).</summary>
public sealed record ProxyStartSettings
{
    /// <summary>The listen addresses, each serving HTTP/1.1 and h2c.</summary>
    public required IReadOnlyList<IPEndPoint> Listen { get; init; }

    /// <summary>
    /// The abstract Unix socket name (without the leading NUL) where the agent hands over the sockets it opens in
    /// workloads' network namespaces (<see cref="ListenerHandoff"/>); null: the proxy serves its own namespace only.
    /// </summary>
    public string? ListenerHandoff { get; init; }

    /// <summary>What one client may send: the config's <c>proxy</c> section.</summary>
    public ProxySettings Limits { get; init; } = new();

    /// <summary>OTLP export; null: none. Its <c>Environment</c> is left null, so the proxy reads its own (the agent's) OTEL_* variables.</summary>
    public MeshTelemetryOptions? Telemetry { get; init; }

    /// <summary>How long stopping waits for requests in flight.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>The proxy's answer to an instruction: applied (no error), or refused and the previous services still serve.</summary>
public sealed record ProxyAcknowledgement(long Generation, string? Error);
