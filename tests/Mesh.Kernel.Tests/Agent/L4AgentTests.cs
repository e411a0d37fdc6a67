using System.Diagnostics;
using System.Net;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// The L4 policy through the `mesh` command: `mesh run` enforces the config's rules and reloads
/// them in place, `mesh status` lists each rule with its counters, and `mesh policy test` names
/// the rule that decides a flow without sending traffic.
/// </summary>
public sealed class L4AgentTests
{
    [Fact]
    public async Task Agent_EnforcesReloadsAndReportsL4Rules()
    {
        using var sandbox = AgentSandbox.Create("l4");
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        var destination = (IPEndPoint)listener.LocalEndPoint!;
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, Config(destination.Port));
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();

            Assert.Equal(RawConnect.Eperm, RawConnect.Errno(destination));
            var status = await sandbox.StatusAsync();
            Assert.True(status.ExitCode == 0, status.ToString());
            Assert.Equal(["block-it", $"deny tcp from any to 127.0.0.1/32 port {destination.Port}", "0", "0", "1", "0"], Row(status.StdOut, "block-it"));
            Assert.Contains("local_connect4/6", status.StdOut, StringComparison.Ordinal);

            // A valid edit lifts the rule within a second; an invalid one leaves the last good rules.
            await File.WriteAllTextAsync(configFile, Config(destination.Port).Replace("action: deny", "action: allow"));
            var watch = Stopwatch.StartNew();
            while (RawConnect.Errno(destination) != 0)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), "the valid edit was not applied within 1 s");
                await Task.Delay(20);
            }

            // Without --config, `mesh policy test` judges by the running agent's file.
            var test = await MeshCli.RunAsync("policy", "test", "--src", "127.0.0.1", "--dst", "127.0.0.1", "--proto", "tcp", "--port", destination.Port.ToString(), "--pin-dir", sandbox.PinDirectory);
            Assert.True(test.ExitCode == 0, test.ToString());
            Assert.Contains($"allow by rule 'block-it' (line 4:", test.StdOut, StringComparison.Ordinal);
            Assert.Contains(configFile, test.StdOut, StringComparison.Ordinal);

            await File.WriteAllTextAsync(configFile, Config(destination.Port).Replace("ports:", "portz:"));
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.Equal(0, RawConnect.Errno(destination));
            Assert.Equal("allow", Row((await sandbox.StatusAsync()).StdOut, "block-it")[1].Split(' ')[0]);
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }

    [Theory]
    [InlineData("--src 10.0.0.9 --dst 10.1.2.3 --proto tcp --port 23", "tcp 10.0.0.9 -> 10.1.2.3 port 23: deny by rule 'no-telnet' (line 4: deny tcp from any to 10.0.0.0/8 port 23)")]
    [InlineData("--src 10.0.0.9 --dst 10.1.2.3 --proto tcp --port 22", "tcp 10.0.0.9 -> 10.1.2.3 port 22: allow by the default (no rule matches)")]
    [InlineData("--src fd00::1 --dst fd00::2 --proto icmp", "icmp fd00::1 -> fd00::2: deny by rule 'no-ping6' (line 9: deny icmp from fd00::/64 to any)")]
    public async Task PolicyTest_WithConfig_NamesTheDecidingRule(string arguments, string expected)
    {
        var configFile = Path.Combine(Path.GetTempPath(), $"mesh-policy-test-{Environment.ProcessId}.yaml");
        await File.WriteAllTextAsync(configFile, """
            l4:
              default: allow
              rules:
                - name: no-telnet
                  action: deny
                  to: 10.0.0.0/8
                  protocol: tcp
                  ports: 23
                - name: no-ping6
                  action: deny
                  from: fd00::/64
                  protocol: icmp
            """);
        try
        {
            var result = await MeshCli.RunAsync(["policy", "test", .. arguments.Split(' '), "--config", configFile], wrapper: null, MeshCli.DefaultTimeout);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal($"{expected} in {configFile}", result.StdOut.Trim());
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Theory]
    [InlineData("--src nowhere --dst 10.0.0.1", "--src 'nowhere' is not an IP address")]
    [InlineData("--src 10.0.0.1 --dst fd00::1", "are of different address families")]
    [InlineData("--src 10.0.0.1 --dst 10.0.0.2 --proto sctp", "--proto 'sctp' is not one of tcp, udp, icmp, any")]
    [InlineData("--src 10.0.0.1 --dst 10.0.0.2 --port 70000", "--port 70000 is out of range")]
    [InlineData("--src 10.0.0.1 --dst 10.0.0.2 --proto icmp --port 80", "--port only applies to tcp and udp")]
    public async Task PolicyTest_BadArguments_OneLineError(string arguments, string expected)
    {
        var result = await MeshCli.RunAsync(["policy", "test", .. arguments.Split(' ')], wrapper: null, MeshCli.DefaultTimeout);

        Assert.NotEqual(0, result.ExitCode);
        var line = Assert.Single(result.ErrorLines);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    private static string Config(int port) => $"""
        l4:
          default: allow
          rules:
            - name: block-it
              action: deny
              to: 127.0.0.1
              protocol: tcp
              ports: {port}
        """;

    /// <summary>The cells of the L4 RULE table row of <paramref name="rule"/>, split on runs of two or more spaces.</summary>
    private static string[] Row(string status, string rule) =>
        System.Text.RegularExpressions.Regex.Split(
            status.Split('\n').Single(line => line.StartsWith(rule + " ", StringComparison.Ordinal)).Trim(), " {2,}");
}
