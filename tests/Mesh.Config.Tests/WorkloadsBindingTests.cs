using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary>The <c>workloads</c> section and <c>source.workload</c>: names, cgroups and labels, and mistakes at their line.</summary>
public class WorkloadsBindingTests
{
    [Fact]
    public void Parse_Workloads_ReturnsNamesCgroupsAndLabels_AndSourceWorkload()
    {
        var config = Valid("""
            workloads:
              - name: web
                cgroup: /sys/fs/cgroup/pods/web
                labels: { app: web, tier: front }
              - name: batch
                cgroup: /sys/fs/cgroup/pods/batch
            services:
              - name: web-client
                address: 10.96.0.11
                port: 8080
                source: { workload: web }
            """);

        Assert.Equal(["web", "batch"], config.Workloads.Select(w => w.Name));
        Assert.Equal("/sys/fs/cgroup/pods/web", config.Workloads[0].Cgroup);
        Assert.Equal([new("app", "web"), new("tier", "front")], config.Workloads[0].Labels);
        Assert.Empty(config.Workloads[1].Labels);
        Assert.Equal("web", config.Services[0].Source!.Workload);
    }

    [Fact]
    public void Parse_DuplicateWorkloadName_IsAnErrorAtTheSecond()
    {
        var error = SingleError("""
            workloads:
              - name: web
                cgroup: /sys/fs/cgroup/a
              - name: web
                cgroup: /sys/fs/cgroup/b
            """);

        AssertError(error, 4, 5, "duplicate workload name 'web'", "first at line 2");
    }

    [Fact]
    public void Parse_WorkloadWithoutCgroup_SaysWhatToAdd()
    {
        var error = SingleError("""
            workloads:
              - name: web
            """);

        Assert.Contains("cgroup: /sys/fs/cgroup/pods/web", error.Message);
    }

    [Fact]
    public void Parse_RelativeCgroup_IsAnErrorAtItsValue()
    {
        var error = SingleError("""
            workloads:
              - name: web
                cgroup: pods/web
            """);

        Assert.Equal(3, error.Line);
        Assert.Contains("'workloads[0].cgroup'", error.Message);
    }
}
