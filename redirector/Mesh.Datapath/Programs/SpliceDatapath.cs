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
    private readonly BpfMap _nodeAddresses;
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
            _nodeAddresses = _resources.Push(_sockOps.Map(MapNames.NodeAddresses));
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
        _settings.Update(0u, new SpliceSettings { Enabled = enabled ? 1u : 0u, NodeNetnsCookie = NetworkNamespace.CurrentCookie() });
        _logger.LogInformation("Splice {State}", enabled ? "enabled" : "disabled");
    }

    /// <summary>Replaces the node's own addresses (besides loopback) that count as local peers.</summary>
    public void SetNodeAddresses(IEnumerable<IPAddress> addresses)
    {
        var wanted = addresses.Select(NodeAddress.From).ToHashSet();
        foreach (var stale in _nodeAddresses.Keys<NodeAddress>().Where(key => !wanted.Contains(key)))
        {
            _nodeAddresses.Delete(stale);
        }
        foreach (var address in wanted)
        {
            _nodeAddresses.Update(address, (byte)1);
        }
    }

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
