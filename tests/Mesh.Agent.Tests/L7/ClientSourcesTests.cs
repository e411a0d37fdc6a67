using Mesh.Agent.L7;
using Mesh.Config;

namespace Mesh.Agent.Tests.L7;

/// <summary>allowFrom and the sources it names: by CIDR, and by cgroup (resolved to the kernel's cgroup id).</summary>
public class ClientSourcesTests
{
    private static readonly MeshConfigLoader Loader = new();

    [Fact]
    public void Resolve_AllowedSourcesByCidrOnly_HasNoCgroupsAndNoWarnings()
    {
        var (cgroupIds, warnings) = new ClientSources(_ => 1).Resolve(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [frontend, web] } }]
                source: { cidrs: [10.1.0.0/16] }
              - { name: frontend, address: 127.0.0.30, port: 80, source: { cidrs: [127.0.0.30/32, "fd00::30/128"] } }
            """));

        Assert.Empty(cgroupIds);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Resolve_SourceNotAllowedAnywhere_GetsNoCgroup()
    {
        // It could only take clients away from the services that rules allow.
        var (cgroupIds, warnings) = new ClientSources(_ => 4242UL).Resolve(Load("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, rules: [{ name: r }], source: { cgroup: /sys/fs/cgroup/web.slice } }
            """));

        Assert.Empty(cgroupIds);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Resolve_SourceWithExistingCgroup_HasItsIdForTheKernelToRecord()
    {
        var sources = new ClientSources(path => path == "/sys/fs/cgroup/batch.slice" ? 4242UL : null);

        var (cgroupIds, warnings) = sources.Resolve(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [batch] } }]
              - { name: batch, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/24], cgroup: /sys/fs/cgroup/batch.slice } }
            """));

        Assert.Equal(new Dictionary<string, ulong> { ["/sys/fs/cgroup/batch.slice"] = 4242UL }, cgroupIds);
        Assert.Empty(warnings);
    }

    [Fact]
    public void Resolve_SourceCgroupThatDoesNotExist_WarnsNobodyCountsAsTheServiceByIt()
    {
        var (cgroupIds, warnings) = new ClientSources(_ => null).Resolve(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [batch] } }]
              - { name: batch, address: 127.0.0.31, port: 80, source: { cgroup: /sys/fs/cgroup/batch.slice } }
            """));

        Assert.Empty(cgroupIds);
        Assert.Equal(
            "services[batch].source.cgroup: /sys/fs/cgroup/batch.slice does not exist on this node, so no connection counts as 'batch' "
            + "by its cgroup until it does (and the config is reloaded)",
            Assert.Single(warnings));
    }

    [Fact]
    public void Resolve_NestedSourceCidrsAllowedOnlyByTheWiderOne_Warns()
    {
        // Clients in 10.1.0.0/16 are both services to the config; the proxy takes them for 'ops' only.
        var (_, warnings) = new ClientSources().Resolve(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - { name: internal, matches: [{ path: { value: /internal } }], authorization: { allowFrom: [office] } }
                  - { name: both, authorization: { allowFrom: [office, ops] } }
              - { name: office, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/8] } }
              - { name: ops, address: 127.0.0.32, port: 80, source: { cidrs: [10.1.0.0/16] } }
            """));

        Assert.Equal(
            "services[office].source.cidrs: clients in 10.1.0.0/16 are 'office' (by 10.0.0.0/8) and 'ops'; the proxy names a client after one service, "
            + "the longest prefix (else the first listed), so it takes them for 'ops' only, and services[web].rules[internal] refuse them",
            Assert.Single(warnings));
    }

    [Fact]
    public void Resolve_DisjointSourceCidrs_DoNotWarn()
    {
        var (_, warnings) = new ClientSources().Resolve(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: s, matches: [{ path: { value: /s } }], authorization: { allowFrom: [b] } }, { name: r, authorization: { allowFrom: [a] } }]
              - { name: a, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/16, "fd00::/64"] } }
              - { name: b, address: 127.0.0.32, port: 80, source: { cidrs: [10.1.0.0/16, "fd00:0:0:1::/64"] } }
            """));

        Assert.Empty(warnings);
    }

    private static MeshConfig Load(string yaml)
    {
        var result = Loader.Parse(yaml, "mesh.yaml");
        Assert.Empty(result.Errors);
        return result.Config!;
    }
}
