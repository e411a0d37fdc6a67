using System.Diagnostics;
using System.Net;
using Mesh.Testing;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// A Linux bridge with network namespaces on veth pairs, as Docker and most CNIs wire containers: a namespace it makes
/// (<see cref="AddNamespace"/>), or any process's namespace (<see cref="Attach"/>, e.g. a workload's). Link names and
/// the subnet are unique per test process and bridge, because other test processes make bridges at the same time; a
/// bridge made with <c>sharedSubnet</c> reuses one subnet on purpose (two bridges with one subnet) and then gets no
/// host address. Disposing deletes everything it made.
/// </summary>
public sealed class TestBridge : IDisposable
{
    private static int s_sequence;

    private readonly List<BridgedNamespace> _namespaces = [];
    private readonly List<string> _hostLinks = [];
    private readonly string _subnetPrefix;
    private readonly string _subnetPrefix6; // the IPv6 twin of the subnet: fd00:<second>:<third>::/64

    private TestBridge(string link, string subnetPrefix, IPAddress? hostAddress)
    {
        Link = link;
        _subnetPrefix = subnetPrefix;
        HostAddress = hostAddress;
        var octets = subnetPrefix.Split('.');
        _subnetPrefix6 = $"fd00:{octets[1]}:{octets[2]}";
        HostAddress6 = hostAddress is null ? null : Ipv6(254);
    }

    public string Link { get; }

    /// <summary>The host's address on the bridge (.254), or null on a bridge that shares its subnet.</summary>
    public IPAddress? HostAddress { get; }

    /// <summary>The host's IPv6 address on the bridge (::254), or null on a bridge that shares its subnet.</summary>
    public IPAddress? HostAddress6 { get; }

    /// <summary>A new bridge on a subnet of its own, the host at .254.</summary>
    public static TestBridge Create() => Create(UniqueSubnet(), withHostAddress: true);

    /// <summary>Two bridges with the same subnet and no host address: their namespaces reuse each other's addresses.</summary>
    public static (TestBridge First, TestBridge Second) CreateTwinsSharingOneSubnet()
    {
        var subnet = UniqueSubnet();
        var first = Create(subnet, withHostAddress: false);
        try
        {
            return (first, Create(subnet, withHostAddress: false));
        }
        catch
        {
            first.Dispose();
            throw;
        }
    }

    /// <summary>A new namespace on this bridge at .<paramref name="hostNumber"/> of the subnet (and ::hostNumber).</summary>
    public BridgedNamespace AddNamespace(int hostNumber)
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        var name = $"mesh-test-{Environment.ProcessId}-br{sequence}";
        var netns = new BridgedNamespace(name, Ipv4(hostNumber), Ipv6(hostNumber));
        _namespaces.Add(netns);
        Ip($"netns add {name}");
        Plug(name, $"/run/netns/{name}", $"mbv{Environment.ProcessId % 100000}n{sequence}", hostNumber);
        Ip($"-n {name} link set lo up");
        netns.Cookie = ulong.Parse(netns.RunPython("""
            import socket
            print(int.from_bytes(socket.socket().getsockopt(socket.SOL_SOCKET, 71, 8), "little"))
            """).Trim());
        return netns;
    }

    /// <summary>
    /// Plugs the network namespace of process <paramref name="pid"/> in, as eth0 (as Docker names it) at
    /// .<paramref name="hostNumber"/> (and ::hostNumber); returns the IPv4 address and the host end's name.
    /// </summary>
    public (IPAddress Address, string HostEnd) Attach(int pid, int hostNumber)
    {
        var hostEnd = Plug(pid.ToString(), $"/proc/{pid}/ns/net", "eth0", hostNumber);
        return (Ipv4(hostNumber), hostEnd);
    }

    public void Dispose()
    {
        foreach (var netns in _namespaces)
        {
            netns.Dispose(); // deleting the namespace removes its veth pair
        }
        foreach (var hostLink in _hostLinks)
        {
            ProcessRunner.TryRun("ip", $"link del {hostLink}"); // gone already when its namespace was
        }
        ProcessRunner.TryRun("ip", $"link del {Link}");
    }

    /// <summary>A veth pair from the bridge into the namespace (ip's name or pid for it, and its file); returns the host end.</summary>
    private string Plug(string netns, string netnsFile, string namespaceLink, int hostNumber)
    {
        var hostLink = $"mbv{Environment.ProcessId % 100000}h{Interlocked.Increment(ref s_sequence)}";
        Ip($"link add {hostLink} type veth peer name {namespaceLink} netns {netns}");
        _hostLinks.Add(hostLink);
        Ip($"link set {hostLink} master {Link} up");
        InNamespace(netnsFile, $"addr add {Ipv4(hostNumber)}/24 dev {namespaceLink}");
        InNamespace(netnsFile, $"addr add {Ipv6(hostNumber)}/64 dev {namespaceLink} nodad");
        InNamespace(netnsFile, $"link set {namespaceLink} up");
        return hostLink;
    }

    private static TestBridge Create(string subnetPrefix, bool withHostAddress)
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        var link = $"mbr{Environment.ProcessId % 100000}x{sequence}";
        var bridge = new TestBridge(link, subnetPrefix, withHostAddress ? IPAddress.Parse($"{subnetPrefix}.254") : null);
        try
        {
            Ip($"link add {link} type bridge");
            if (bridge.HostAddress is { } host)
            {
                Ip($"addr add {host}/24 dev {link}");
                Ip($"addr add {bridge.HostAddress6}/64 dev {link} nodad");
            }
            Ip($"link set {link} up");
            return bridge;
        }
        catch
        {
            bridge.Dispose();
            throw;
        }
    }

    private IPAddress Ipv4(int hostNumber) => IPAddress.Parse($"{_subnetPrefix}.{hostNumber}");

    private IPAddress Ipv6(int hostNumber) => IPAddress.Parse($"{_subnetPrefix6}::{hostNumber}");

    private static string UniqueSubnet()
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        return $"10.{232 + sequence % 8}.{(Environment.ProcessId + sequence) % 250 + 1}";
    }

    private static void Ip(string arguments) => ProcessRunner.Run("ip", arguments);

    private static void InNamespace(string netnsFile, string ipArguments) => ProcessRunner.Run("nsenter", $"--net={netnsFile} ip {ipArguments}");
}

/// <summary>A network namespace on a <see cref="TestBridge"/>, with its address and cookie.</summary>
public sealed class BridgedNamespace : IDisposable
{
    private readonly NamespacePythons _pythons;

    public BridgedNamespace(string name, IPAddress address, IPAddress address6)
    {
        Name = name;
        Address = address;
        Address6 = address6;
        _pythons = new NamespacePythons(name);
    }

    public string Name { get; }

    public IPAddress Address { get; }

    /// <summary>The namespace's IPv6 address (no duplicate address detection, so usable at once).</summary>
    public IPAddress Address6 { get; }

    /// <summary>The namespace's cookie (SO_NETNS_COOKIE), as the agent would learn it.</summary>
    public ulong Cookie { get; internal set; }

    /// <summary>Runs a python3 script inside the namespace to its end and returns what it printed.</summary>
    public string RunPython(string script, params string[] arguments) => _pythons.Run(script, arguments);

    /// <summary>Starts python3 inside the namespace, in the test process's cgroup; the namespace ends it on dispose.</summary>
    public Process StartPython(string script, params string[] arguments) => _pythons.Start(script, arguments);

    public void Dispose()
    {
        _pythons.Dispose();
        ProcessRunner.TryRun("ip", $"netns del {Name}");
    }
}
