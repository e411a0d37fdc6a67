using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Services;

/// <summary>
/// Through the real `mesh run`: a service without rules is served by its virtual address, its endpoints' health
/// decides where new connections go, and `mesh status` and `mesh flows` show both.
/// </summary>
public sealed class ServicesAgentTests
{
    private static readonly IPEndPoint Service = new(IPAddress.Parse("127.0.0.60"), 8080);

    [Fact]
    public async Task Run_ServiceWithEndpointKilled_TakesItOutWithin2sAndBackWhenItListensAgain()
    {
        using var sandbox = AgentSandbox.Create("services");
        var steady = new CountingEndpoint(IPAddress.Parse("127.0.0.1"));
        var flaky = new CountingEndpoint(IPAddress.Parse("127.0.0.2"));
        var flakyEndPoint = flaky.EndPoint;
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $"""
                services:
                  - name: catalog
                    address: {Service.Address}
                    port: {Service.Port}
                    endpoints:
                      - {steady.EndPoint}
                      - endpoint: {flakyEndPoint}
                        weight: 3
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();

            var clients = await ConnectAsync(40);
            await ServiceTranslationTests.WaitForAsync(() => steady.CountFrom(clients) + flaky.CountFrom(clients) == 40);
            Assert.Equal((10, 30), (steady.CountFrom(clients), flaky.CountFrom(clients)));
            await AssertStatusAsync(sandbox, (steady.EndPoint, "1", "healthy"), (flakyEndPoint, "3", "healthy"));

            flaky.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(2));
            clients = await ConnectAsync(50);
            await ServiceTranslationTests.WaitForAsync(() => steady.CountFrom(clients) == 50);
            await AssertStatusAsync(sandbox, (steady.EndPoint, "1", "healthy"), (flakyEndPoint, "3", "unhealthy"));

            flaky = new CountingEndpoint(flakyEndPoint.Address, port: flakyEndPoint.Port);
            await Task.Delay(TimeSpan.FromSeconds(2));
            clients = await ConnectAsync(40);
            await ServiceTranslationTests.WaitForAsync(() => flaky.CountFrom(clients) == 30);
            await AssertStatusAsync(sandbox, (steady.EndPoint, "1", "healthy"), (flakyEndPoint, "3", "healthy"));

            sandbox.LeaveCgroup();
            var flows = await MeshCli.RunAsync("flows", "--pin-dir", sandbox.PinDirectory, "--output", "json", "--verdict", "translated");
            var records = flows.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonSerializer.Deserialize<JsonElement>(line)).ToList();
            Assert.True(records.Count >= 130, flows.ToString());
            Assert.All(records, record => Assert.Equal("catalog", record.GetProperty("service").GetString()));
            Assert.Contains(records, record => record.GetProperty("destination").GetString() == flakyEndPoint.ToString());
        }
        finally
        {
            sandbox.LeaveCgroup();
            steady.Dispose();
            flaky.Dispose();
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task Run_ServiceWithNoHealthyEndpoint_RefusesConnectsAtOnce()
    {
        using var sandbox = AgentSandbox.Create("services-down");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            // Ports nothing listens on: both endpoints fail their checks from the start.
            await File.WriteAllTextAsync(configFile, $"""
                services:
                  - name: catalog
                    address: {Service.Address}
                    port: {Service.Port}
                    endpoints: [127.0.0.1:{LoopbackPair.FreePort()}, 127.0.0.2:{LoopbackPair.FreePort()}]
                    healthCheck: {"{"} interval: 200ms, timeout: 200ms {"}"}
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            await Task.Delay(TimeSpan.FromSeconds(1));
            sandbox.EnterCgroup();

            var slowest = TimeSpan.Zero;
            for (var i = 0; i < 20; i++)
            {
                using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                var watch = Stopwatch.StartNew();
                var error = await Assert.ThrowsAsync<SocketException>(async () => await client.ConnectAsync(Service));
                slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, watch.Elapsed.Ticks));
                Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
            }
            Assert.True(slowest < TimeSpan.FromMilliseconds(50), $"slowest refusal took {slowest.TotalMilliseconds:F1} ms");
            sandbox.LeaveCgroup();
            var status = await sandbox.StatusAsync();
            var rows = status.StdOut.Split('\n').Where(line => line.StartsWith("catalog ", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, rows.Count);
            Assert.All(rows, row => Assert.EndsWith(" unhealthy", row.TrimEnd(), StringComparison.Ordinal));
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    /// <summary>Connects <paramref name="count"/> times to the service; the client ends, as the endpoints see them.</summary>
    private static async Task<IReadOnlySet<EndPoint>> ConnectAsync(int count)
    {
        var clients = new HashSet<EndPoint>();
        for (var i = 0; i < count; i++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(Service);
            Assert.Equal(Service, client.RemoteEndPoint);
            clients.Add(client.LocalEndPoint!);
        }
        return clients;
    }

    private static async Task AssertStatusAsync(AgentSandbox sandbox, params (IPEndPoint EndPoint, string Weight, string Health)[] endpoints)
    {
        var status = await sandbox.StatusAsync();
        Assert.True(status.ExitCode == 0, status.ToString());
        foreach (var (endpoint, weight, health) in endpoints)
        {
            var row = status.StdOut.Split('\n').SingleOrDefault(line => line.StartsWith("catalog ", StringComparison.Ordinal) && line.Contains($" {endpoint} ", StringComparison.Ordinal));
            Assert.True(row is not null, $"no row for {endpoint}:{Environment.NewLine}{status}");
            Assert.Equal(["catalog", Service.ToString(), "tcp", endpoint.ToString(), weight, health], row.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
