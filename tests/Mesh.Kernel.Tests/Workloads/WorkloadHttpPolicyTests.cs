using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// Clients in their own network namespace (child cgroups of the served one) dial a service with HTTP policy with no
/// setting inside the namespace: the connect hook's rewrite to 127.0.0.1:proxy-port lands on the listener the agent
/// opened for the proxy in that namespace, and the policy applies, including authorization by workload.
/// </summary>
public sealed class WorkloadHttpPolicyTests
{
    private static readonly IPEndPoint Api = new(IPAddress.Parse("10.96.77.10"), 8080);

    [Fact]
    public async Task NamespacedClients_GetDenyRetryAndRateLimit_AndAuthorizationByWorkload()
    {
        var flakyHits = 0;
        await using var upstream = await StartUpstreamAsync(path => path == "/flaky" && Interlocked.Increment(ref flakyHits) <= 2 ? 502 : 200);
        using var sandbox = AgentSandbox.Create("wlhttp");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var batch = TestWorkload.Start(sandbox.CgroupPath, "batch");
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                workloads:
                  - name: web
                    cgroup: {{web.Cgroup}}
                    labels: { app: web }
                  - name: batch
                    cgroup: {{batch.Cgroup}}
                services:
                  - name: api
                    address: {{Api.Address}}
                    port: {{Api.Port}}
                    endpoints: [{{upstream.Urls}}]
                    rules:
                      - name: admin
                        matches: [{ path: { type: PathPrefix, value: /admin } }]
                        action: deny
                      - name: flaky
                        matches: [{ path: { type: PathPrefix, value: /flaky } }]
                        retry: {}
                      - name: limited
                        matches: [{ path: { type: PathPrefix, value: /limited } }]
                        rateLimit: { requestsPerSecond: 5, burst: 5 }
                      - name: private
                        matches: [{ path: { type: PathPrefix, value: /private } }]
                        authorization: { allowFrom: [web-client] }
                  - name: web-client
                    address: 10.96.77.11
                    port: 8080
                    source: { workload: web }
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            Assert.NotNull(await admin.WaitServedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
            Assert.NotNull(await admin.WaitServedAsync(batch.Cgroup, TimeSpan.FromSeconds(5)));

            Assert.Equal("200", await web.CurlStatusAsync($"http://{Api}/"));
            Assert.Equal("403", await web.CurlStatusAsync($"http://{Api}/admin"));
            Assert.Equal("200", await web.CurlStatusAsync($"http://{Api}/flaky"));
            Assert.Equal(3, flakyHits);
            var limited = new List<string>();
            for (var i = 0; i < 6; i++)
            {
                limited.Add(await web.CurlStatusAsync($"http://{Api}/limited"));
            }
            Assert.Equal(["200", "200", "200", "200", "200", "429"], limited);
            Assert.Equal("200", await web.CurlStatusAsync($"http://{Api}/private"));
            Assert.Equal("403", await batch.CurlStatusAsync($"http://{Api}/private"));
            Assert.Equal("200", await batch.CurlStatusAsync($"http://{Api}/"));

            var status = await sandbox.StatusAsync();
            Assert.Contains(web.Cgroup, status.StdOut);
            Assert.Contains("PROXY LISTENERS", status.StdOut);
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    /// <summary>
    /// Sends one request on a connection from 127.0.0.1:SOURCE_PORT once told to on stdin, after printing "connected":
    /// two workloads can then hold connections with the very same tuple, each in its own namespace.
    /// </summary>
    private const string PinnedPortClient = """
        import socket, sys
        host, port, source_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", source_port)); s.connect((host, port))
        print("connected", s.getsockname()[1], flush=True)
        sys.stdin.readline()
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        print(answer.split(b"\r\n")[0].decode(), answer.split(b"\r\n\r\n", 1)[1].decode(), flush=True)
        """;

    [Fact]
    public async Task TwoWorkloadsWithTheSameTuple_EachGetsTheServiceItDialled()
    {
        await using var catalog = await StartUpstreamAsync(_ => 200, "catalog");
        await using var shop = await StartUpstreamAsync(_ => 200, "shop");
        using var sandbox = AgentSandbox.Create("wltuple");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        using var web = TestWorkload.Start(sandbox.CgroupPath, "web");
        using var batch = TestWorkload.Start(sandbox.CgroupPath, "batch");
        var proxyPort = LoopbackPair.FreePort();
        var sourcePort = LoopbackPair.FreePort();
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                services:
                  - name: catalog
                    address: 10.96.79.10
                    port: 8080
                    endpoints: [{{catalog.Urls}}]
                    rules: [{ name: all, timeouts: { request: 5s } }]
                  - name: shop
                    address: 10.96.79.20
                    port: 8080
                    endpoints: [{{shop.Urls}}]
                    rules: [{ name: all, timeouts: { request: 5s } }]
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", proxyPort.ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            Assert.NotNull(await admin.WaitServedAsync(web.Cgroup, TimeSpan.FromSeconds(5)));
            Assert.NotNull(await admin.WaitServedAsync(batch.Cgroup, TimeSpan.FromSeconds(5)));

            // Both connections are 127.0.0.1:sourcePort -> 127.0.0.1:proxyPort, each in its namespace, open at once;
            // the proxy asks for each one's original destination only at its first request.
            using var fromWeb = web.StartInside(joinCgroup: true, "python3", "-c", PinnedPortClient, "10.96.79.10", "8080", sourcePort.ToString());
            Assert.Equal($"connected {sourcePort}", await fromWeb.StandardOutput.ReadLineAsync());
            using var fromBatch = batch.StartInside(joinCgroup: true, "python3", "-c", PinnedPortClient, "10.96.79.20", "8080", sourcePort.ToString());
            Assert.Equal($"connected {sourcePort}", await fromBatch.StandardOutput.ReadLineAsync());
            await fromWeb.StandardInput.WriteLineAsync();
            await fromWeb.StandardInput.FlushAsync();
            var webAnswer = await fromWeb.StandardOutput.ReadLineAsync();
            await fromBatch.StandardInput.WriteLineAsync();
            await fromBatch.StandardInput.FlushAsync();
            var batchAnswer = await fromBatch.StandardOutput.ReadLineAsync();

            Assert.Equal("HTTP/1.1 200 OK catalog", webAnswer);
            Assert.Equal("HTTP/1.1 200 OK shop", batchAnswer);
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    /// <summary>A Kestrel upstream on 127.0.0.1 in the host's namespace, answering each path with <paramref name="status"/> and <paramref name="body"/>.</summary>
    internal static async Task<Upstream> StartUpstreamAsync(Func<string, int> status, string body = "upstream")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            context.Response.StatusCode = status(context.Request.Path.Value ?? "/");
            await context.Response.WriteAsync(body);
        });
        await app.StartAsync();
        return new Upstream(app, new IPEndPoint(IPAddress.Loopback, new Uri(app.Urls.First()).Port));
    }

    internal sealed class Upstream(WebApplication app, IPEndPoint endPoint) : IAsyncDisposable
    {
        public string Urls => endPoint.ToString();

        public IPEndPoint EndPoint => endPoint;

        public ValueTask DisposeAsync() => app.DisposeAsync();
    }
}
