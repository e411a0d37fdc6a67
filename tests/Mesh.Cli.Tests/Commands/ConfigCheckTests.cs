using Mesh.Testing;

namespace Mesh.Cli.Tests.Commands;

/// <summary>`mesh config check`, run as the built executable: where each valid service's connections go.</summary>
public sealed class ConfigCheckTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"mesh-config-check-{Guid.NewGuid():n}.yaml");

    public void Dispose() => File.Delete(_file);

    [Fact]
    public async Task Check_ValidFile_SaysWhereEachServiceGoes_IncludingOneWithNeitherEndpointsNorSelector()
    {
        await File.WriteAllTextAsync(_file, """
            services:
              - { name: catalog, address: 127.0.0.10, port: 8080, endpoints: [127.0.0.1:9001, 127.0.0.1:9002] }
              - { name: web, address: 10.96.0.10, port: 80, selector: { mesh.service: web, tier: front } }
              - { name: db, address: 127.0.0.20, port: 5432 }
            """);

        var output = await ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "mesh"), $"config check {_file}");

        Assert.Contains($"{_file}: valid", output);
        Assert.Contains("catalog (127.0.0.10:8080): endpoints 127.0.0.1:9001, 127.0.0.1:9002", output);
        Assert.Contains("web (10.96.0.10:80): the running containers labelled mesh.service=web, tier=front", output);
        Assert.Contains("db (127.0.0.20:5432): no 'endpoints' or 'selector': connections go to 127.0.0.20:5432 itself", output);
    }

    [Fact]
    public async Task Check_RuleAllowingLabelledWorkloads_SaysWhoItAllows()
    {
        await File.WriteAllTextAsync(_file, """
            services:
              - name: api
                address: 10.96.0.30
                port: 8080
                selector: { mesh.service: api }
                rules: [{ name: web-only, authorization: { allowFrom: [web-clients, local] } }]
              - { name: web-clients, address: 10.96.0.31, port: 8080, source: { labels: { app: web, tier: front } } }
              - { name: local, address: 10.96.0.32, port: 8080, source: { cidrs: [127.0.0.0/8] } }
            """);

        var output = await ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "mesh"), $"config check {_file}");

        Assert.Contains("    rule web-only: only from web-clients (workloads labelled app=web, tier=front); local (addresses in 127.0.0.0/8)", output);
    }

    [Fact]
    public async Task Check_EndpointsAndSelectorTogether_IsAnErrorAtTheSelector()
    {
        await File.WriteAllTextAsync(_file, """
            services:
              - name: web
                address: 10.96.0.10
                port: 80
                endpoints: [127.0.0.1:9001]
                selector: { mesh.service: web }
            """);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ProcessRunner.RunAsync(Path.Combine(AppContext.BaseDirectory, "mesh"), $"config check {_file}"));

        Assert.Contains($"{_file}:6:15: service 'web' has both 'endpoints' and 'selector'", error.Message);
    }
}
