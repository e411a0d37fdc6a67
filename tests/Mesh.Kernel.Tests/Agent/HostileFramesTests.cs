using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>A bounded flood of random frames at the XDP filter neither crashes nor stalls the agent.</summary>
public sealed partial class HostileFramesTests(ITestOutputHelper output)
{
    /// <summary>
    /// Sends random frames on the namespace's end of the veth for a few seconds (raw AF_PACKET): random bytes behind
    /// EtherTypes the parser follows (IPv4, IPv6, 802.1Q, 802.1ad) or not, of random lengths, so every header boundary
    /// gets cut somewhere. Prints the number sent.
    /// </summary>
    private const string Flood = """
        import os, random, socket, sys, time
        interface, seconds = sys.argv[1], float(sys.argv[2])
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((interface, 0))
        types = [b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x88\xa8", b"\x08\x06", os.urandom(2)]
        rng = random.Random(20261125)
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(256):
                frame = os.urandom(12) + rng.choice(types) + os.urandom(rng.randrange(0, 200))
                try:
                    s.send(frame)
                    sent += 1
                except OSError:
                    pass
        print(sent, flush=True)
        """;

    [Fact]
    public async Task RandomFrameFlood_AgentStaysUpAndResponsive_AndAllowedTrafficStillFlows()
    {
        using var netns = TestNetworkNamespace.Create();
        using var sandbox = AgentSandbox.Create("frames");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        using var listener = LoopbackPair.Listen(netns.HostAddress);
        try
        {
            await File.WriteAllTextAsync(configFile, $"""
                l4:
                  interfaces:
                    - name: {netns.HostLink}
                      mode: native
                  rules:
                    - name: no-telnet
                      action: deny
                      protocol: tcp
                      ports: 23
                """);
            var agent = await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());

            var flood = netns.StartPython(Flood, netns.NamespaceLink, "4");
            var statusTimes = new List<double>();
            while (!flood.HasExited && statusTimes.Count < 20)
            {
                var clock = Stopwatch.StartNew();
                var status = await sandbox.StatusAsync();
                statusTimes.Add(clock.Elapsed.TotalMilliseconds);
                Assert.True(status.ExitCode == 0, status.ToString());
                await Task.Delay(100);
            }
            var sent = long.Parse(await flood.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)) ?? "0");

            Assert.False(agent.HasExited, $"the agent died during the flood:{Environment.NewLine}{agent.Output}");
            var after = await sandbox.StatusAsync();
            var malformed = long.Parse(MalformedLine().Match(after.StdOut).Groups[1].Value.Replace(",", ""));
            var connect = netns.StartPython($$"""
                import socket
                socket.create_connection(("{{netns.HostAddress}}", {{((IPEndPoint)listener.LocalEndPoint!).Port}}), timeout=2).close()
                print("connected", flush=True)
                """);
            using var accepted = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(5));

            output.WriteLine($"{sent:N0} random frames; {malformed:N0} dropped as malformed; mesh status took at most {statusTimes.Max():F0} ms ({statusTimes.Count} calls) during the flood");
            Assert.True(sent > 10_000, $"only {sent} frames were sent");
            Assert.True(malformed > 0, "no frame was judged malformed");
            Assert.True(statusTimes.Max() < 5_000, $"mesh status took {statusTimes.Max():F0} ms during the flood");
            Assert.Equal("connected", await connect.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [GeneratedRegex(@"XDP: ([\d,]+) malformed")]
    private static partial Regex MalformedLine();
}
