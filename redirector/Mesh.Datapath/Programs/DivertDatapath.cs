using System.Net;
using System.Net.Sockets;
using Mesh.Datapath.Flows;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Programs;

/// <summary>
/// The L7 diversion and the service translation while they are attached: connect4/connect6 rewrite connections to
/// services with HTTP policy to the node proxy and those to other services to an endpoint (<see cref="ServiceTable"/>),
/// sock_ops records their original destination by tuple, a getsockopt hook answers the proxy's SO_ORIGINAL_DST from
/// it, and getpeername hooks show the client the service it dialled; sendmsg/recvmsg do the same for UDP services.
/// Disposing detaches and unpins.
/// </summary>
public sealed class DivertDatapath : IDisposable
{
    public const string Connect4Program = "divert_connect4";
    public const string Connect6Program = "divert_connect6";
    public const string EstablishedProgram = "divert_established";
    public const string OriginalDstProgram = "divert_original_dst";
    public const string GetPeerName4Program = "divert_getpeername4";
    public const string GetPeerName6Program = "divert_getpeername6";
    public const string SendMsg4Program = "service_sendmsg4";
    public const string SendMsg6Program = "service_sendmsg6";
    public const string RecvMsg4Program = "service_recvmsg4";
    public const string RecvMsg6Program = "service_recvmsg6";
    private static readonly string[] Programs =
    [
        Connect4Program, Connect6Program, SendMsg4Program, SendMsg6Program,
        EstablishedProgram, OriginalDstProgram, GetPeerName4Program, GetPeerName6Program, RecvMsg4Program, RecvMsg6Program,
    ];

    private readonly ILogger _logger;
    private readonly PinnedObjectLoader _loader;
    private readonly ResourceStack _resources = new();
    private readonly BpfMap _services;
    private readonly BpfMap _settings;
    private readonly BpfMap _counters;
    private readonly BpfMap _heartbeat;
    private readonly BpfMap _sourceCgroups;
    private readonly BpfMap _servedNamespaces;
    private bool _disposed;

    private DivertDatapath(DivertOptions options, string cgroupPath, LibBpfLog libBpfLog, ILogger logger)
    {
        _logger = logger;
        Options = options;
        CgroupPath = cgroupPath;
        using var cgroup = Cgroup.Open(cgroupPath);
        _loader = new PinnedObjectLoader(options.PinDirectory, options.ObjectDirectory, MapNames.Divert, libBpfLog, logger);
        try
        {
            var divert = _resources.Push(_loader.LoadReusingPins(EmbeddedPrograms.Divert));
            _services = _resources.Push(divert.Map(MapNames.L7Services));
            _settings = _resources.Push(divert.Map(MapNames.DivertSettings));
            _counters = _resources.Push(divert.Map(MapNames.DivertCounters));
            _heartbeat = _resources.Push(divert.Map(MapNames.DivertHeartbeat));
            _sourceCgroups = _resources.Push(divert.Map(MapNames.SourceCgroups));
            _servedNamespaces = _resources.Push(divert.Map(MapNames.DivertNetns));
            WriteSettings();
            // The proxy's own listeners are in the agent's namespace; workloads' namespaces join as the proxy listens
            // there. Those a killed agent left pinned are dropped: their listeners went with its proxy.
            foreach (var stale in _servedNamespaces.Keys<ulong>())
            {
                _servedNamespaces.Delete(stale);
            }
            ServeNamespace(NetworkNamespace.CurrentCookie());
            // connect4/6 and sendmsg4/6 go last, so the first diverted connection already finds the programs
            // that record and answer its original destination.
            foreach (var name in Programs.Reverse())
            {
                using var program = divert.Program(name);
                _resources.Push(PinnedCgroupLink.AttachOrReplace(program, cgroup, options.PinDirectory, logger));
            }
            _logger.LogInformation("L7 diversion attached to cgroup {Cgroup}: services with HTTP policy go to {Proxy}", cgroupPath, options.ProxyIpv4);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public DivertOptions Options { get; }

    public string CgroupPath { get; }

    /// <summary>Loads and attaches; on any failure nothing stays attached or pinned by this call.</summary>
    public static DivertDatapath Attach(DivertOptions options, LibBpfLog libBpfLog, ILogger logger) =>
        new(options, options.CgroupPath ?? Cgroup.FindV2Root(), libBpfLog, logger);

    /// <summary>
    /// Makes <paramref name="services"/> exactly the set of diverted services, in place: entries are
    /// added and removed one by one, so a service that stays is never undiverted for a moment.
    /// </summary>
    public void SetServices(IEnumerable<DivertedService> services)
    {
        var wanted = services.ToDictionary(service => ServiceKey.From(service.EndPoint), service => service.FailOpen ? ServicePolicy.FailOpen : 0);
        foreach (var stale in _services.Keys<ServiceKey>().Where(key => !wanted.ContainsKey(key)))
        {
            _services.Delete(stale);
        }
        foreach (var (service, flags) in wanted)
        {
            _services.Update(service, new ServicePolicy { Flags = flags });
        }
        _logger.LogInformation("{Count} service(s) diverted to the node proxy", wanted.Count);
    }

    /// <summary>
    /// Makes <paramref name="cgroupIds"/> exactly the cgroups that name a client's service (source.cgroup): a
    /// diverted connection records the deepest of them its process is in, for the proxy to read.
    /// </summary>
    public void SetSourceCgroups(IEnumerable<ulong> cgroupIds)
    {
        var wanted = cgroupIds.ToHashSet();
        foreach (var stale in _sourceCgroups.Keys<ulong>().Where(id => !wanted.Contains(id)))
        {
            _sourceCgroups.Delete(stale);
        }
        foreach (var id in wanted)
        {
            _sourceCgroups.Update(id, (byte)1);
        }
    }

    /// <summary>Diverts connections made in the namespace with this cookie: the proxy listens on its loopback port there.</summary>
    public void ServeNamespace(ulong netnsCookie) => _servedNamespaces.Update(netnsCookie, (byte)1);

    /// <summary>Connections made in the namespace get their service's fail mode again; true when it was served.</summary>
    public bool StopServingNamespace(ulong netnsCookie) => _servedNamespaces.Delete(netnsCookie);

    /// <summary>How many namespaces (the agent's included) the diversion serves now.</summary>
    public int ServedNamespaceCount() => _servedNamespaces.Keys<ulong>().Count;

    /// <summary>The watchdog's proof that the proxy serves: connections are diverted for <see cref="DivertOptions.HeartbeatTimeout"/> more.</summary>
    public void Heartbeat() => _heartbeat.Update(0u, BootClock.NowNanoseconds());

    /// <summary>Declares the proxy down at once (e.g. while it drains): new connections follow each service's fail mode.</summary>
    public void MarkProxyDown() => _heartbeat.Update(0u, 0UL);

    public DivertCounterSnapshot ReadCounters() => DivertCounterReader.Read(_counters);

    /// <summary>How many services are diverted now.</summary>
    public int ServiceCount() => _services.Keys<ServiceKey>().Count;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _resources.Dispose();
        _loader.RemovePins();
    }

    private unsafe void WriteSettings()
    {
        if (Options.ProxyIpv4.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"the proxy's IPv4 listener {Options.ProxyIpv4} is not an IPv4 endpoint");
        }
        var settings = new DivertSettings
        {
            ProxyIp4 = BitConverter.ToUInt32(Options.ProxyIpv4.Address.GetAddressBytes()),
            ProxyPort = (uint)Options.ProxyIpv4.Port,
            ProxyUid = Options.ProxyUid,
            HeartbeatTimeoutNs = Options.HeartbeatTimeout is { } timeout ? (ulong)(timeout.Ticks * 100) : 0,
        };
        Options.ProxyIpv6?.GetAddressBytes().CopyTo(new Span<byte>(settings.ProxyIp6, 16));
        _settings.Update(0u, settings);
    }
}
