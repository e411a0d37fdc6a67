using System.Net;
using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Maps;

/// <summary>
/// Keeps the served_addresses map equal to the namespaces the agent serves and their addresses,
/// by the rule written above the map in bpf/include/splice_maps.h: each address is local in its
/// own namespace, and names its owner node-wide only when exactly one namespace owns it.
/// </summary>
public sealed class ServedAddressTable(BpfMap map)
{
    private readonly Dictionary<ulong, HashSet<IPAddress>> _namespaces = [];
    private readonly Lock _lock = new();

    /// <summary>Serves the namespace with exactly these addresses (replacing what it had).</summary>
    public void Serve(ulong netnsCookie, IEnumerable<IPAddress> addresses)
    {
        ArgumentOutOfRangeException.ThrowIfZero(netnsCookie);
        lock (_lock)
        {
            _namespaces[netnsCookie] = [.. addresses.Select(Normalized)];
            Synchronize();
        }
    }

    /// <summary>Stops serving the namespace: its addresses no longer count as on this node.</summary>
    public void Forget(ulong netnsCookie)
    {
        lock (_lock)
        {
            if (_namespaces.Remove(netnsCookie))
            {
                Synchronize();
            }
        }
    }

    /// <summary>The namespaces served now and their addresses.</summary>
    public IReadOnlyDictionary<ulong, IReadOnlySet<IPAddress>> Snapshot()
    {
        lock (_lock)
        {
            return _namespaces.ToDictionary(entry => entry.Key, entry => (IReadOnlySet<IPAddress>)entry.Value.ToHashSet());
        }
    }

    /// <summary>An IPv4-mapped IPv6 address is the IPv4 address, as the kernel keys normalize it.</summary>
    private static IPAddress Normalized(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private void Synchronize()
    {
        var wanted = new Dictionary<ServedAddress, ulong>();
        foreach (var (cookie, addresses) in _namespaces)
        {
            foreach (var address in addresses)
            {
                wanted[ServedAddress.From(cookie, address)] = cookie;
            }
        }
        foreach (var owned in _namespaces.SelectMany(entry => entry.Value.Select(address => (address, cookie: entry.Key))).GroupBy(owned => owned.address))
        {
            if (owned.Count() == 1)
            {
                wanted[ServedAddress.From(0, owned.Key)] = owned.Single().cookie;
            }
        }
        foreach (var stale in map.Keys<ServedAddress>().Where(key => !wanted.ContainsKey(key)))
        {
            map.Delete(stale);
        }
        foreach (var (key, owner) in wanted)
        {
            map.Update(key, owner);
        }
    }
}
