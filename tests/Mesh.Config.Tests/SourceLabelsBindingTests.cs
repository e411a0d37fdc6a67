using static Mesh.Config.Tests.ConfigParsing;

namespace Mesh.Config.Tests;

/// <summary><c>source.labels</c>: a client service is every workload with the given labels; mistakes at their line and column.</summary>
public class SourceLabelsBindingTests
{
    [Fact]
    public void Parse_SourceLabels_ReturnsTheSelectorInFileOrder_AndAllowFromMayNameTheService()
    {
        var config = Valid("""
            services:
              - name: web-clients
                address: 10.96.0.11
                port: 8080
                source: { labels: { app: web, tier: "1" } }
              - name: api
                address: 10.96.0.10
                port: 8080
                rules: [{ name: web-only, authorization: { allowFrom: [web-clients] } }]
            """);

        var source = config.Services[0].Source!;
        Assert.Equal([new LabelMatch("app", "web"), new LabelMatch("tier", "1")], source.Labels);
        Assert.Null(source.Workload);
        Assert.Empty(source.Cidrs);
        Assert.Equal(["web-clients"], config.Services[1].Rules[0].Authorization!.AllowFrom);
    }

    [Fact]
    public void Parse_SourceLabelsBesideCidrs_KeepsBoth()
    {
        var config = Valid("""
            services:
              - { name: web-clients, address: 10.96.0.11, port: 80, source: { cidrs: [10.0.0.0/8], labels: { app: web } } }
            """);

        Assert.Equal([new LabelMatch("app", "web")], config.Services[0].Source!.Labels);
        Assert.Equal([System.Net.IPNetwork.Parse("10.0.0.0/8")], config.Services[0].Source!.Cidrs);
    }

    [Fact]
    public void Parse_EmptySourceLabels_IsAnErrorAtTheMapping()
    {
        var error = SingleError("""
            services:
              - name: web-clients
                address: 10.96.0.11
                port: 80
                source: { labels: {} }
            """);

        AssertError(error, 5, 23, "'services[0].source.labels' expects labels and their values", "labels: { app: web }");
    }

    [Fact]
    public void Parse_SourceLabelValueThatIsNotText_IsAnErrorAtTheValue()
    {
        var error = SingleError("""
            services:
              - name: web-clients
                address: 10.96.0.11
                port: 80
                source:
                  labels:
                    app: [web, api]
            """);

        AssertError(error, 7, 14, "'services[0].source.labels.app'");
    }

    [Fact]
    public void Parse_SourceLabelWithEmptyValue_IsAnErrorAtTheValue()
    {
        var error = SingleError("""
            services:
              - { name: web-clients, address: 10.96.0.11, port: 80, source: { labels: { app: "" } } }
            """);

        Assert.Equal(2, error.Line);
        Assert.Contains("'services[0].source.labels.app' is empty", error.Message);
    }

    [Fact]
    public void Parse_SourceLabelsAsAList_IsAnErrorSayingToWriteAMapping()
    {
        var error = SingleError("""
            services:
              - name: web-clients
                address: 10.96.0.11
                port: 80
                source: { labels: [app=web] }
            """);

        AssertError(error, 5, 23, "expects labels and their values", "found a list");
    }

    [Fact]
    public void Parse_SourceWithWorkloadAndLabels_IsAnErrorAtLabels_SayingToKeepOne()
    {
        var error = SingleError("""
            workloads: [{ name: web, cgroup: /sys/fs/cgroup/pods/web }]
            services:
              - name: web-clients
                address: 10.96.0.11
                port: 80
                source:
                  workload: web
                  labels: { app: web }
            """);

        AssertError(error, 8, 7, "names the workload 'web' and also selects workloads by 'labels'", "keep one");
    }

    [Fact]
    public void Parse_SourceMatchLabels_SaysToWriteLabels()
    {
        var error = SingleError("""
            services:
              - { name: web-clients, address: 10.96.0.11, port: 80, source: { matchLabels: { app: web } } }
            """);

        Assert.Contains("write 'labels'", error.Message);
    }
}
