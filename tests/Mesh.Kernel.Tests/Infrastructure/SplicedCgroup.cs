using System.Net;
using Mesh.Config;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// A child cgroup made for one test, with the test process inside it and the splice attached to it.
/// Disposing detaches, unpins, moves the process back and removes the cgroup, also after a failure.
/// </summary>
public sealed class SplicedCgroup : IDisposable
{
    private static int s_sequence;

    private readonly ChildCgroup _cgroup;
    private readonly LibBpfLog _libBpfLog;

    private SplicedCgroup(bool attach, bool spliceEnabled)
    {
        KernelRequirements.Ensure();
        Name = $"mesh-test-{Environment.ProcessId}-{Interlocked.Increment(ref s_sequence)}";
        PinDirectory = System.IO.Path.Combine(BpfFileSystem.DefaultMount, Name);
        _cgroup = ChildCgroup.Create(Name);
        _libBpfLog = LibBpfLog.Install(NullLogger.Instance);
        try
        {
            if (attach)
            {
                Attach(spliceEnabled);
            }
            _cgroup.EnterCurrentProcess();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name { get; }

    public string Path => _cgroup.Path;

    public string PinDirectory { get; }

    public SpliceDatapath? Datapath { get; private set; }

    public DivertDatapath? Divert { get; private set; }

    public L4Datapath? L4 { get; private set; }

    /// <summary>The test process inside a new cgroup with the splice attached.</summary>
    public static SplicedCgroup Create(bool spliceEnabled = true) => new(attach: true, spliceEnabled);

    /// <summary>The test process inside a new cgroup with nothing attached yet: the baseline, or for attach-later tests.</summary>
    public static SplicedCgroup CreateDetached() => new(attach: false, spliceEnabled: true);

    public SpliceDatapath Attach(bool spliceEnabled = true)
    {
        Datapath = SpliceDatapath.Attach(new SpliceOptions { CgroupPath = _cgroup.Path, PinDirectory = PinDirectory, Enabled = spliceEnabled }, _libBpfLog, NullLogger.Instance);
        return Datapath;
    }

    /// <summary>The uid the diversion takes for the node proxy's: no test client runs as it (see <c>ProxyUserConnect</c>).</summary>
    public const uint ProxyUid = 1337;

    /// <summary>Attaches the L7 diversion to the same cgroup, sending diverted connections to <paramref name="proxy"/>.</summary>
    public DivertDatapath AttachDivert(IPEndPoint proxy, TimeSpan? heartbeatTimeout = null)
    {
        Divert = DivertDatapath.Attach(
            new DivertOptions { CgroupPath = _cgroup.Path, PinDirectory = PinDirectory, ProxyIpv4 = proxy, ProxyUid = ProxyUid, HeartbeatTimeout = heartbeatTimeout },
            _libBpfLog, NullLogger.Instance);
        return Divert;
    }

    /// <summary>
    /// Attaches the L3/L4 policy's socket hooks to the same cgroup (before any diversion, as the
    /// agent does) and puts <paramref name="policy"/> in force.
    /// </summary>
    public L4Datapath AttachL4(L4Policy policy)
    {
        L4 = L4Datapath.Attach(new L4Options { CgroupPath = _cgroup.Path, PinDirectory = PinDirectory }, _libBpfLog, NullLogger.Instance);
        L4.Apply(policy);
        return L4;
    }

    public void Detach()
    {
        L4?.Dispose();
        L4 = null;
        Divert?.Dispose();
        Divert = null;
        Datapath?.Dispose();
        Datapath = null;
    }

    public SpliceCounterSnapshot Counters() => (Datapath ?? throw new InvalidOperationException("not attached")).ReadCounters();

    /// <summary>Opens the counters map so it can still be read after <see cref="Detach"/>.</summary>
    public BpfMap OpenCounters() => BpfMap.OpenPinned(System.IO.Path.Combine(PinDirectory, MapNames.SpliceCounters));

    /// <summary>Opens the sockhash to look at its keys.</summary>
    public BpfMap OpenSockets() => BpfMap.OpenPinned(System.IO.Path.Combine(PinDirectory, MapNames.SpliceSockets));

    /// <summary>Opens splice_peers, the registered sockets' kernel addresses, to count its entries.</summary>
    public BpfMap OpenPeers() => BpfMap.OpenPinned(System.IO.Path.Combine(PinDirectory, MapNames.SplicePeers));

    /// <summary>Runs <paramref name="action"/> with the process outside the cgroup: sockets it creates are not spliced.</summary>
    public T Outside<T>(Func<T> action)
    {
        _cgroup.LeaveAll();
        try
        {
            return action();
        }
        finally
        {
            _cgroup.EnterCurrentProcess();
        }
    }

    public void Dispose()
    {
        Detach();
        _cgroup.Dispose();
        _libBpfLog.Dispose();
    }
}
