using Mesh.Agent.Discovery;
using Mesh.Agent.Workloads;
using Mesh.Config;

namespace Mesh.Agent.Tests.Workloads;

/// <summary>A workload's labels: its containers' (joined by network namespace) and the config's, whichever came first.</summary>
public class WorkloadLabelsTests
{
    private const ulong WebNamespace = 4026532001;
    private const ulong BatchNamespace = 4026532002;

    // pid → the network namespace inode of that process; pid 99 is gone.
    private static readonly Dictionary<int, ulong> Namespaces = new() { [10] = WebNamespace, [11] = WebNamespace, [20] = BatchNamespace };

    [Fact]
    public void Of_ContainerInTheWorkloadsNamespace_GivesItsLabels_AndOnlyItsOwn()
    {
        var containers = ByNamespace(Container("web", 10, "app=web", "tier=front"), Container("batch", 20, "app=batch"));

        Assert.Equal(Labels("app=web", "tier=front"), WorkloadLabels.Of(Workload(WebNamespace), containers));
        Assert.Equal(Labels("app=batch"), WorkloadLabels.Of(Workload(BatchNamespace), containers));
        Assert.Empty(WorkloadLabels.Of(Workload(4026532999), containers));
    }

    [Fact]
    public void Of_ContainersSharingTheNamespace_CountOnlyTheLabelsAllOfThemCarry()
    {
        var containers = ByNamespace(Container("web", 10, "app=web", "pod=shop", "role=main"), Container("sidecar", 11, "pod=shop", "role=sidecar"));

        Assert.Equal(Labels("pod=shop"), WorkloadLabels.Of(Workload(WebNamespace), containers));
    }

    [Fact]
    public void Of_DeclaredLabels_AddToTheContainers_AndWinOnTheSameKey()
    {
        var declared = new WorkloadConfig { Name = "web", Cgroup = "/sys/fs/cgroup/web", Labels = [new("app", "web-file"), new("team", "shop")] };
        var containers = ByNamespace(Container("web", 10, "app=web", "tier=front"));

        Assert.Equal(Labels("app=web-file", "team=shop", "tier=front"), WorkloadLabels.Of(Workload(WebNamespace, declared), containers));
        Assert.Equal(Labels("app=web-file", "team=shop"), WorkloadLabels.Of(Workload(WebNamespace, declared), ByNamespace()));
    }

    [Fact]
    public void ByNamespace_ContainerWhoseProcessIsGone_IsLeftOut()
    {
        var containers = ByNamespace(Container("gone", 99, "app=web"), Container("web", 10, "tier=front"));

        Assert.Equal(Labels("tier=front"), WorkloadLabels.Of(Workload(WebNamespace), containers));
        Assert.Single(containers);
    }

    [Fact]
    public void Same_ComparesPairs_NotOrder()
    {
        Assert.True(WorkloadLabels.Same(Labels("a=1", "b=2"), Labels("b=2", "a=1")));
        Assert.False(WorkloadLabels.Same(Labels("a=1"), Labels("a=2")));
        Assert.False(WorkloadLabels.Same(Labels("a=1"), Labels("a=1", "b=2")));
    }

    private static ILookup<ulong, DiscoveredContainer> ByNamespace(params DiscoveredContainer[] containers) =>
        WorkloadLabels.ByNamespace(containers, pid => Namespaces.TryGetValue(pid, out var inode) ? inode : null);

    private static DiscoveredContainer Container(string name, int pid, params string[] labels) =>
        new($"id-{name}", name, Labels(labels), [], pid);

    private static Workload Workload(ulong netnsInode, WorkloadConfig? declared = null) =>
        new($"/sys/fs/cgroup/docker/{netnsInode}", 1, 2, netnsInode, [], 10, declared);

    private static Dictionary<string, string> Labels(params string[] pairs) =>
        pairs.Select(pair => pair.Split('=')).ToDictionary(pair => pair[0], pair => pair[1]);
}
