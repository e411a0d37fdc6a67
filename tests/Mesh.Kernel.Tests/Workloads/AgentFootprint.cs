using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Agent;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// What a running agent holds that grows with each workload or endpoint it serves: its descriptors and threads, the
/// proxy's descriptors and listeners, the workloads it lists and the entries of the kernel maps it fills per
/// namespace, address and endpoint. Taken before and after churn, two equal footprints mean nothing was left behind.
/// </summary>
/// <param name="AgentFds">
/// Without the runtime's assemblies and symbol files, which it opens once, on first use (a .pdb at the first stack
/// trace it logs), whenever that is.
/// </param>
/// <param name="WorkloadAddresses">
/// The served_addresses entries of namespaces other than the node's: the node's follow the host's interfaces,
/// which other tests on the machine add and remove.
/// </param>
public sealed record AgentFootprint(
    int AgentFds, int Threads, int ProxyFds, int Listeners, int Workloads,
    int ServedNamespaces, int WorkloadAddresses, int Services, int ServiceSlots, int SplicedSockets)
{
    /// <summary>The footprint once it stops moving (or equals <paramref name="expected"/> but for threads), for at most 10 s.</summary>
    public static async Task<AgentFootprint> SettledAsync(int agentPid, int proxyPid, AgentSandbox sandbox, AgentAdmin admin, AgentFootprint? expected)
    {
        var footprint = await TakeAsync(agentPid, proxyPid, sandbox, admin);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await Task.Delay(200);
            var next = await TakeAsync(agentPid, proxyPid, sandbox, admin);
            if (expected is null ? next == footprint : next.WithoutThreads() == expected.WithoutThreads())
            {
                return next;
            }
            footprint = next;
        }
        return footprint;
    }

    /// <summary>
    /// Asserts the agent is back at <paramref name="before"/> after churn (threads within a band, the rest exactly),
    /// logging both and the descriptors that differ from <paramref name="fdsBefore"/>; returns the footprint after.
    /// </summary>
    public static async Task<AgentFootprint> AssertBackAsync(AgentFootprint before, List<string> fdsBefore, int agentPid, int proxyPid, AgentSandbox sandbox, AgentAdmin admin, ITestOutputHelper output)
    {
        var after = await SettledAsync(agentPid, proxyPid, sandbox, admin, expected: before);
        output.WriteLine($"before {before}, after {after}");
        var fdsAfter = FdTargets(agentPid);
        output.WriteLine($"agent fds opened: {string.Join(", ", fdsAfter.Except(fdsBefore))}; closed: {string.Join(", ", fdsBefore.Except(fdsAfter))}");
        Assert.Equal(before.WithoutThreads(), after.WithoutThreads());
        // The thread pool grows and shrinks on its own; the agent itself keeps no thread per workload.
        Assert.InRange(after.Threads, before.Threads - 8, before.Threads + 2);
        return after;
    }

    /// <summary>The thread pool grows and shrinks on its own: compare threads within a band, the rest exactly.</summary>
    public AgentFootprint WithoutThreads() => this with { Threads = 0 };

    /// <summary>Each open descriptor as "fd -> what it is", to name what changed.</summary>
    public static List<string> FdTargets(int pid) =>
        [.. Directory.GetFiles($"/proc/{pid}/fd").Select(fd => $"{Path.GetFileName(fd)}->{new FileInfo(fd).LinkTarget}")];

    /// <summary>The network namespaces (by cookie) the diversion serves now, from the pinned divert_netns.</summary>
    public static List<ulong> ServedNamespacesOf(AgentSandbox sandbox) => KeysOf<ulong>(sandbox, MapNames.DivertNetns);

    private static async Task<AgentFootprint> TakeAsync(int agentPid, int proxyPid, AgentSandbox sandbox, AgentAdmin admin)
    {
        var status = await admin.StatusAsync();
        return new AgentFootprint(
            AgentFds: FdTargets(agentPid).Count(target => !target.EndsWith(".dll", StringComparison.Ordinal) && !target.EndsWith(".pdb", StringComparison.Ordinal)),
            Threads: Directory.GetDirectories($"/proc/{agentPid}/task").Length,
            ProxyFds: Directory.GetFiles($"/proc/{proxyPid}/fd").Length,
            Listeners: status.Workloads?.Sum(w => w.Listeners) ?? 0,
            Workloads: status.Workloads?.Count ?? 0,
            ServedNamespaces: ServedNamespacesOf(sandbox).Count,
            WorkloadAddresses: WorkloadAddressesOf(sandbox),
            Services: KeysOf<LbServiceKey>(sandbox, MapNames.LbServices).Count,
            ServiceSlots: KeysOf<LbSlotKey>(sandbox, MapNames.LbSlots).Count,
            SplicedSockets: KeysOf<SockKey>(sandbox, MapNames.SpliceSockets).Count);
    }

    private static int WorkloadAddressesOf(AgentSandbox sandbox)
    {
        var node = NetworkNamespace.CurrentCookie();
        using var served = BpfMap.OpenPinned(Path.Combine(sandbox.PinDirectory, MapNames.ServedAddresses));
        return served.Keys<ServedAddress>().Count(key => served.TryLookup(key, out ulong owner) && owner != node);
    }

    private static List<TKey> KeysOf<TKey>(AgentSandbox sandbox, string map) where TKey : unmanaged
    {
        using var pinned = BpfMap.OpenPinned(Path.Combine(sandbox.PinDirectory, map));
        return pinned.Keys<TKey>();
    }
}
