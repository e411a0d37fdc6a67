using System.Net;
using System.Net.Sockets;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Testing.Telemetry;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>The kernel's counters reach an OTLP collector as metrics, next to the proxy's, read from the BPF maps.</summary>
public sealed class KernelMetricsTests
{
    [Fact]
    public async Task Agent_WithOtlpEndpoint_ExportsSplicedSocketsAndDenialsPerRule()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        using var sandbox = AgentSandbox.Create("kmetrics");
        var deniedPort = LoopbackPair.FreePort();
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $"""
                telemetry:
                  otlp: {"{"} endpoint: "{receiver.HttpEndpoint}", protocol: http/protobuf {"}"}
                  metrics: {"{"} exportInterval: 1s {"}"}
                l4:
                  rules:
                    - name: deny-it
                      action: deny
                      to: 127.0.0.1
                      protocol: tcp
                      ports: {deniedPort}
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using (var listener = LoopbackPair.Listen(IPAddress.Loopback))
            using (var pair = await LoopbackPair.ConnectAsync(listener))
            {
                await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, SocketStreams.RandomBytes(64 * 1024));
            }
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(RawConnect.Eperm, RawConnect.Errno(new IPEndPoint(IPAddress.Loopback, deniedPort)));
            }
            sandbox.LeaveCgroup();

            var denials = await receiver.WaitForTotalAsync("mesh.kernel.l4.socket_denials", series => Equals(series.GetValueOrDefault("mesh.rule"), "deny-it"), 3);
            var splicedBytes = await WaitForAtLeastAsync(receiver, "mesh.kernel.spliced.bytes", 64 * 1024);
            var splicedSockets = await WaitForAtLeastAsync(receiver, "mesh.kernel.spliced.sockets", 2);

            Assert.Equal(3, denials);
            Assert.True(splicedBytes >= 64 * 1024, $"spliced bytes exported: {splicedBytes}");
            Assert.True(splicedSockets >= 2, $"spliced sockets exported: {splicedSockets}");
            Assert.Contains(receiver.Points, point => point.Metric == "mesh.kernel.diverted.connections");
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    private static async Task<double> WaitForAtLeastAsync(OtlpReceiver receiver, string metric, double minimum)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        double total;
        while ((total = receiver.Total(metric, _ => true)) < minimum && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        return total;
    }
}
