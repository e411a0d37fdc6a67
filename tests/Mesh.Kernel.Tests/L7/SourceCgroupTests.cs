using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// authorization.allowFrom by source.cgroup: the kernel records, at connect(), which configured cgroup the client's
/// process is in, and the proxy names the client's service from it — whatever the client's address.
/// </summary>
public sealed class SourceCgroupTests
{
    private static readonly IPEndPoint Api = new(IPAddress.Parse("127.0.0.70"), 8080);

    [Fact]
    public async Task AllowFromCgroupService_ClientInThatCgroupOrBelow_IsAllowed_ClientElsewhere_IsRefused()
    {
        await using var upstream = await SlowUpstream.StartAsync(IPAddress.Loopback);
        using var sandbox = AgentSandbox.Create("srccgroup");
        var frontend = Directory.CreateDirectory(Path.Combine(sandbox.CgroupPath, "frontend")).FullName;
        var frontendWorker = Directory.CreateDirectory(Path.Combine(frontend, "worker")).FullName;
        var other = Directory.CreateDirectory(Path.Combine(sandbox.CgroupPath, "other")).FullName;
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                services:
                  - name: api
                    address: {{Api.Address}}
                    port: {{Api.Port}}
                    endpoints: [{{upstream}}]
                    rules:
                      - name: r
                        authorization: { allowFrom: [frontend] }
                  - name: frontend
                    address: 127.0.0.71
                    port: 8080
                    source: { cgroup: {{frontend}} }
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();

            var fromFrontend = await RequestFromAsync(client, frontend);
            var fromBelowFrontend = await RequestFromAsync(client, frontendWorker);
            var fromOther = await RequestFromAsync(client, other);

            Assert.Equal((HttpStatusCode.OK, SlowUpstream.Body), fromFrontend);
            Assert.Equal((HttpStatusCode.OK, SlowUpstream.Body), fromBelowFrontend);
            Assert.Equal(HttpStatusCode.Forbidden, fromOther.Status);
        }
        finally
        {
            File.WriteAllText(Path.Combine(sandbox.CgroupPath, "cgroup.procs"), Environment.ProcessId.ToString());
            sandbox.LeaveCgroup();
            foreach (var directory in new[] { frontendWorker, frontend, other })
            {
                Directory.Delete(directory);
            }
            File.Delete(configFile);
        }
    }

    /// <summary>Moves the test process into <paramref name="cgroup"/> and sends one request on a new connection.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> RequestFromAsync(HttpClient client, string cgroup)
    {
        File.WriteAllText(Path.Combine(cgroup, "cgroup.procs"), Environment.ProcessId.ToString());
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Api}/");
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
