using System.Collections.Frozen;
using System.Net;

namespace Mesh.Proxy.Routing;

/// <summary>The allowed source services of a service or route.</summary>
internal sealed class AuthorizationRule(IEnumerable<string> allowedSources, string scope)
{
    private readonly FrozenSet<string> _allowed = allowedSources.ToFrozenSet(StringComparer.Ordinal);

    public bool Allows(string? source) => source is not null && _allowed.Contains(source);

    public string DenyReason(string? source) =>
        source is null ? $"unknown source is not allowed by {scope}" : $"source {source} is not allowed by {scope}";
}

/// <summary>Names the source service of a client address: the service whose CIDR contains it, longest prefix first.</summary>
internal sealed class SourceIdentifier
{
    private readonly (IPNetwork Network, string Service)[] _networks;

    public SourceIdentifier(IEnumerable<Configuration.ProxyService> services)
    {
        _networks = [.. services
            .SelectMany(s => s.SourceCidrs.Select(n => (Network: n, Service: s.Name)))
            .OrderByDescending(e => e.Network.PrefixLength)];
    }

    public string? Identify(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        address = Addresses.Normalize(address);
        foreach (var (network, service) in _networks)
        {
            if (network.Contains(address))
            {
                return service;
            }
        }

        return null;
    }
}
