using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

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
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        await using var upstream = builder.Build();
        upstream.Run(context => context.Response.WriteAsync("api"));
        await upstream.StartAsync();
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
                    endpoints: [{{upstream.Urls.Select(url => new Uri(url)).Select(uri => $"{uri.Host}:{uri.Port}").First()}}]
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

            Assert.Equal((HttpStatusCode.OK, "api"), fromFrontend);
            Assert.Equal((HttpStatusCode.OK, "api"), fromBelowFrontend);
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
