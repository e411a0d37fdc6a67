using Mesh.Proxy.Configuration;

namespace Mesh.Agent.L7;

/// <summary>A config translated for the node proxy: its runtime model, and what of the config that model does not enforce as written.</summary>
/// <param name="Services">
/// The services with HTTP policy, with their routes, and the services their rules name (backends, mirrors and allowed
/// sources) without routes, in file order. Not yet validated: pass them to <see cref="ProxyConfigValidator"/> (the proxy
/// does when it takes them).
/// </param>
/// <param name="Warnings">
/// One line per difference between the config and what the proxy will do, each starting with the config path it is
/// about, such as <c>services[orders].rules[reports].authorization</c>; worth logging at warning level.
/// </param>
internal sealed record ProxyMapping(IReadOnlyList<ProxyService> Services, IReadOnlyList<string> Warnings)
{
    /// <summary>The source cgroups the proxy names clients by: the kernel records which of these a diverted client is in.</summary>
    public IEnumerable<ulong> SourceCgroupIds => Services.SelectMany(service => service.SourceCgroupIds).Distinct();
}
