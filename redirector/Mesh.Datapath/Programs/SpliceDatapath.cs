using System.Net;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Programs;

/// <summary>
/// The kernel splice while it is attached: sock_ops on a cgroup registers local sockets in the
/// sockhash, sk_msg on the sockhash redirects their sends. Disposing detaches both and unpins the maps.
/// </summary>
/// <remarks>
/// Maps are pinned by name under <see cref="SpliceOptions.PinDirectory"/>. A run that crashed leaves
/// them pinned with its sk_msg program attached, so connections it spliced keep flowing; the next
/// start reuses those maps and replaces the program. Sockets leave the sockhash only when they
/// close (the kernel does it): deleting a live entry would drop the bytes queued for its reader.
/// </remarks>
public sealed class SpliceDatapath : IDisposable
{
    public const string SockOpsProgram = "splice_register";
    public const string RedirectProgram = "splice_redirect";

    private readonly ILogger _logger;
    private readonly PinnedObjectLoader _loader;
    private readonly ResourceStack _resources = new();
    private readonly BpfObject _sockOps;
    private readonly BpfObject _redirect;
    private readonly BpfMap _sockets;
    private readonly BpfMap _counters;
    private readonly BpfMap _settings;
    private readonly ServedAddressTable _servedAddresses;
    private readonly ulong _hostNetnsCookie = NetworkNamespace.CurrentCookie();
    private readonly BpfProgram _redirectProgram;
    private BpfLink? _sockOpsLink;
    private bool _redirectAttached;
    private bool _disposed;

    private SpliceDatapath(SpliceOptions options, string cgroupPath, LibBpfLog libBpfLog, ILogger logger)
    {
        _logger = logger;
        Options = options;
        CgroupPath = cgroupPath;
        using var cgroup = Cgroup.Open(cgroupPath);
        _loader = new PinnedObjectLoader(options.PinDirectory, options.ObjectDirectory, MapNames.Splice, libBpfLog, logger);
        try
        {
            _sockOps = _resources.Push(_loader.LoadReusingPins(EmbeddedPrograms.SockOps));
            _redirect = _resources.Push(_loader.Load(EmbeddedPrograms.Redirect));
            _sockets = _resources.Push(_sockOps.Map(MapNames.SpliceSockets));
            _counters = _resources.Push(_sockOps.Map(MapNames.SpliceCounters));
            _settings = _resources.Push(_sockOps.Map(MapNames.SpliceSettings));
            _servedAddresses = new ServedAddressTable(_resources.Push(_sockOps.Map(MapNames.ServedAddresses)));
            _redirectProgram = _resources.Push(_redirect.Program(RedirectProgram));

            SetEnabled(options.Enabled);
            // sk_msg first: a socket takes the sockhash's programs when it enters it, so every
            // registered socket must find the redirect program already there.
            _redirectProgram.AttachToSocketMap(_sockets, BpfAttachType.SkMsgVerdict);
            _redirectAttached = true;
            using var sockOpsProgram = _sockOps.Program(SockOpsProgram);
            _sockOpsLink = sockOpsProgram.AttachToCgroup(cgroup);
            _logger.LogInformation("Splice attached: sock_ops on cgroup {Cgroup}, sk_msg on {Map}, maps pinned in {PinDirectory}",
                cgroupPath, MapNames.SpliceSockets, options.PinDirectory);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public SpliceOptions Options { get; }

    public string CgroupPath { get; }

    /// <summary>Loads and attaches; on any failure nothing stays attached or pinned by this call.</summary>
    public static SpliceDatapath Attach(SpliceOptions options, LibBpfLog libBpfLog, ILogger logger) =>
        new(options, options.CgroupPath ?? Cgroup.FindV2Root(), libBpfLog, logger);

    public void SetEnabled(bool enabled)
    {
        _settings.Update(0u, new SpliceSettings { Enabled = enabled ? 1u : 0u });
        _logger.LogInformation("Splice {State}", enabled ? "enabled" : "disabled");
    }

    /// <summary>Replaces the addresses of the agent's own (host) namespace, besides loopback, that count as on this node.</summary>
    public void SetNodeAddresses(IEnumerable<IPAddress> addresses) => _servedAddresses.Serve(_hostNetnsCookie, addresses);

    /// <summary>
    /// Serves a workload's network namespace (its cookie, SO_NETNS_COOKIE) with exactly these addresses:
    /// connections between it and the host or other served namespaces are spliced from now on.
    /// </summary>
    public void ServeNamespace(ulong netnsCookie, IEnumerable<IPAddress> addresses)
    {
        var served = addresses.ToList();
        _servedAddresses.Serve(netnsCookie, served);
        _logger.LogInformation("Splice serves network namespace {NetnsCookie}: {Addresses}", netnsCookie, string.Join(", ", served));
    }

    /// <summary>Stops serving a namespace; connections already spliced keep flowing until they close.</summary>
    public void ForgetNamespace(ulong netnsCookie)
    {
        _servedAddresses.Forget(netnsCookie);
        _logger.LogInformation("Splice no longer serves network namespace {NetnsCookie}", netnsCookie);
    }

    /// <summary>The namespaces served (the host's included) and their addresses.</summary>
    public IReadOnlyDictionary<ulong, IReadOnlySet<IPAddress>> ServedNamespaces() => _servedAddresses.Snapshot();

    public SpliceCounterSnapshot ReadCounters() => SpliceCounterReader.Read(_counters);

    public int SpliceSocketCount() => _sockets.Keys<SockKey>().Count;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        // Stop registering new sockets first, then stop giving new sockets the redirect program.
        // Sockets already spliced keep their program until they close, so no queued byte is lost.
        _sockOpsLink?.Dispose();
        if (_redirectAttached)
        {
            _redirectProgram.DetachFromSocketMap(_sockets, BpfAttachType.SkMsgVerdict);
        }
        _resources.Dispose();
        _loader.RemovePins();
        if (_sockOpsLink is not null)
        {
            _logger.LogInformation("Splice detached from cgroup {Cgroup}; pins in {PinDirectory} removed", CgroupPath, Options.PinDirectory);
        }
    }
}
