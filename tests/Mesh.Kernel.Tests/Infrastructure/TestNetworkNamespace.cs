using System.Diagnostics;
using System.Net;
using Mesh.Testing;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// A network namespace the test makes, joined to the host by a veth pair with addresses of the
/// test's choosing, so traffic can go to a peer that is not on this node. Deleting the namespace
/// removes the veth pair too.
/// </summary>
public sealed class TestNetworkNamespace : IDisposable
{
    private static int s_sequence;

    private readonly NamespacePythons _pythons;

    private TestNetworkNamespace(string name, int subnet, string hostLink, string namespaceLink)
    {
        Name = name;
        HostLink = hostLink;
        NamespaceLink = namespaceLink;
        HostAddress = IPAddress.Parse($"10.231.{subnet}.1");
        NamespaceAddress = IPAddress.Parse($"10.231.{subnet}.2");
        _pythons = new NamespacePythons(name);
    }

    public string Name { get; }

    /// <summary>The host end's interface name, e.g. to attach XDP to what the namespace sends.</summary>
    public string HostLink { get; }

    /// <summary>The namespace end's interface name, inside the namespace.</summary>
    public string NamespaceLink { get; }

    /// <summary>The host end of the veth pair: an address of this node.</summary>
    public IPAddress HostAddress { get; }

    /// <summary>The namespace end: a peer that is not on this node as far as the host is concerned.</summary>
    public IPAddress NamespaceAddress { get; }

    public static TestNetworkNamespace Create()
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        var name = $"mesh-test-{Environment.ProcessId}-{sequence}";
        var subnet = (Environment.ProcessId + sequence) % 250 + 1;
        var hostLink = $"mtv{Environment.ProcessId % 100000}h{sequence}";
        var namespaceLink = $"mtv{Environment.ProcessId % 100000}n{sequence}";
        var netns = new TestNetworkNamespace(name, subnet, hostLink, namespaceLink);
        try
        {
            Ip($"netns add {name}");
            Ip($"link add {hostLink} type veth peer name {namespaceLink}");
            Ip($"link set {namespaceLink} netns {name}");
            Ip($"addr add {netns.HostAddress}/30 dev {hostLink}");
            Ip($"link set {hostLink} up");
            Ip($"-n {name} addr add {netns.NamespaceAddress}/30 dev {namespaceLink}");
            Ip($"-n {name} link set {namespaceLink} up");
            Ip($"-n {name} link set lo up");
            return netns;
        }
        catch
        {
            netns.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts python3 with <paramref name="script"/> inside the namespace; the namespace owns the
    /// process and ends it on dispose. The child inherits the
    /// test process's cgroup: `ip netns exec` changes the network namespace, not the cgroup.
    /// </summary>
    public Process StartPython(string script, params string[] arguments) => _pythons.Start(script, arguments);

    public void Dispose()
    {
        try
        {
            _pythons.Dispose();
        }
        finally
        {
            // Deleting the namespace removes its veth pair, and with it anything attached to the host end.
            ProcessRunner.TryRun("ip", $"netns del {Name}");
        }
    }

    private static void Ip(string arguments) => ProcessRunner.Run("ip", arguments);
}
