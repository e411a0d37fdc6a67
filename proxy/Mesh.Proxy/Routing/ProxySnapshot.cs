using System.Collections.Frozen;
using System.Net;
using Mesh.Config;

namespace Mesh.Proxy.Routing;

/// <summary>
/// Everything the request path needs from one config version, immutable once built. It is swapped as a whole by
/// <see cref="Management.MeshProxyConfigProvider"/>; a request reads it once, at its start.
/// </summary>
internal sealed class ProxySnapshot
{
    public required long Version { get; init; }

    /// <summary>Every service of the config, as given.</summary>
    public required IReadOnlyList<ServiceConfig> Services { get; init; }

    /// <summary>The services by the address clients dial.</summary>

    public required FrozenDictionary<IPEndPoint, CompiledService> ByAddress { get; init; }

    public required FrozenDictionary<string, BackendService> Backends { get; init; }

    public required SourceIdentifier Sources { get; init; }

    public bool TryGetService(IPEndPoint destination, out CompiledService service) =>
        ByAddress.TryGetValue(Addresses.Normalize(destination), out service!);
}
