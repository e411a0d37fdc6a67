using System.Net;
using Mesh.Agent.L7;
using Mesh.Proxy.Configuration;
using static Mesh.Agent.Tests.L7.MapperRuns;

namespace Mesh.Agent.Tests.L7;

/// <summary>allowFrom and the sources it names: by CIDR, and by cgroup (resolved to the kernel's cgroup id).</summary>
public class ProxyModelMapperAuthorizationTests
{
    [Fact]
    public void Map_Authorization_MapsAllowedSourcesAndTheirCidrs()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [frontend, web] } }]
                source: { cidrs: [10.1.0.0/16] }
              - { name: frontend, address: 127.0.0.30, port: 80, source: { cidrs: [127.0.0.30/32, "fd00::30/128"] } }
            """);

        Assert.Equal(["frontend", "web"], mapping.Only().Authorization!.AllowedSources);
        Assert.Equal([IPNetwork.Parse("127.0.0.30/32"), IPNetwork.Parse("fd00::30/128")], mapping.Service("frontend").SourceCidrs);
        Assert.Equal([IPNetwork.Parse("10.1.0.0/16")], mapping.Service("web").SourceCidrs);
        Assert.Null(mapping.Service("web").Authorization);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_SourceNotAllowedAnywhere_GetsNoCidrs()
    {
        // Its CIDRs could only take clients away from the services that rules allow.
        var mapping = Map("""
            services:
              - { name: web, address: 127.0.0.10, port: 8080, rules: [{ name: r }], source: { cidrs: [127.0.0.0/8] } }
            """);

        Assert.Empty(mapping.Service("web").SourceCidrs);
    }

    [Fact]
    public void Map_SourceWithExistingCgroup_MapsItsIdForTheKernelToRecord()
    {
        var mapper = new ProxyModelMapper(path => path == "/sys/fs/cgroup/batch.slice" ? 4242UL : null);

        var mapping = mapper.Map(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [batch] } }]
              - { name: batch, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/24], cgroup: /sys/fs/cgroup/batch.slice } }
            """));

        Assert.Equal([4242UL], mapping.Services.Single(s => s.Name == "batch").SourceCgroupIds);
        Assert.Equal([IPNetwork.Parse("10.0.0.0/24")], mapping.Services.Single(s => s.Name == "batch").SourceCidrs);
        Assert.Equal([4242UL], mapping.SourceCgroupIds);
        Assert.Empty(mapping.Warnings);
    }

    [Fact]
    public void Map_SourceCgroupThatDoesNotExist_WarnsNobodyCountsAsTheServiceByIt()
    {
        var mapping = new ProxyModelMapper(_ => null).Map(Load("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: r, authorization: { allowFrom: [batch] } }]
              - { name: batch, address: 127.0.0.31, port: 80, source: { cgroup: /sys/fs/cgroup/batch.slice } }
            """));

        Assert.Empty(mapping.Services.Single(s => s.Name == "batch").SourceCgroupIds);
        Assert.Equal(
            "services[batch].source.cgroup: /sys/fs/cgroup/batch.slice does not exist on this node, so no connection counts as 'batch' "
            + "by its cgroup until it does (and the config is reloaded)",
            Assert.Single(mapping.Warnings));
    }

    [Fact]
    public void Map_NestedSourceCidrsAllowedOnlyByTheWiderOne_Warns()
    {
        // Clients in 10.1.0.0/16 are both services to the config; the proxy takes them for 'ops' only.
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules:
                  - { name: internal, matches: [{ path: { value: /internal } }], authorization: { allowFrom: [office] } }
                  - { name: both, authorization: { allowFrom: [office, ops] } }
              - { name: office, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/8] } }
              - { name: ops, address: 127.0.0.32, port: 80, source: { cidrs: [10.1.0.0/16] } }
            """);

        Assert.Equal(
            "services[office].source.cidrs: clients in 10.1.0.0/16 are 'office' (by 10.0.0.0/8) and 'ops'; the proxy names a client after one service, "
            + "the longest prefix (else the first listed), so it takes them for 'ops' only, and services[web].rules[internal] refuse them",
            Assert.Single(mapping.Warnings));
    }

    [Fact]
    public void Map_DisjointSourceCidrs_DoNotWarn()
    {
        var mapping = Map("""
            services:
              - name: web
                address: 127.0.0.10
                port: 8080
                rules: [{ name: s, matches: [{ path: { value: /s } }], authorization: { allowFrom: [b] } }, { name: r, authorization: { allowFrom: [a] } }]
              - { name: a, address: 127.0.0.31, port: 80, source: { cidrs: [10.0.0.0/16, "fd00::/64"] } }
              - { name: b, address: 127.0.0.32, port: 80, source: { cidrs: [10.1.0.0/16, "fd00:0:0:1::/64"] } }
            """);

        Assert.Empty(mapping.Warnings);
    }
}
