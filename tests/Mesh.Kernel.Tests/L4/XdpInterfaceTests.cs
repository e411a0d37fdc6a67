using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Mesh.Config;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.L4;

/// <summary>
/// The XDP filter on a real interface: the host end of a veth pair whose other end is in a network
/// namespace the test makes. Clients in the namespace run outside the workload cgroup, so only XDP
/// judges their packets.
/// </summary>
public sealed class XdpInterfaceTests(ITestOutputHelper output)
{
    /// <summary>
    /// Reads commands on stdin, one per line, and answers one line each:
    /// "connect HOST PORT" gives connected | timeout | refused; "send HOST PORT BYTES PAUSE_MS"
    /// sends BYTES random bytes in 64 KiB chunks with a pause after each, then gives the SHA-256.
    /// </summary>
    private const string Client = """
        import hashlib, os, socket, sys, time
        for line in sys.stdin:
            command, host, port, *rest = line.split()
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect((host, int(port)))
            except socket.timeout:
                print("timeout", flush=True); continue
            except ConnectionRefusedError:
                print("refused", flush=True); continue
            if command == "send":
                total, pause = int(rest[0]), int(rest[1]) / 1000
                s.settimeout(30)
                digest = hashlib.sha256()
                sent = 0
                while sent < total:
                    chunk = os.urandom(min(65536, total - sent))
                    s.sendall(chunk)
                    digest.update(chunk)
                    sent += len(chunk)
                    time.sleep(pause)
                s.close()
                print(digest.hexdigest(), flush=True)
            else:
                s.close()
                print("connected", flush=True)
        """;

    [Fact]
    public async Task XdpOnVeth_DropsDeniedPortAndCidr_AndPassesAllowedTraffic()
    {
        using var cgroup = SplicedCgroup.CreateDetached();
        using var netns = TestNetworkNamespace.Create();
        using var allowed = LoopbackPair.Listen(netns.HostAddress);
        using var denied = LoopbackPair.Listen(netns.HostAddress);
        var l4 = cgroup.AttachL4(Policy(netns, $"""
            - name: deny-port
              action: deny
              to: {netns.HostAddress}
              protocol: tcp
              ports: {Port(denied)}
            """));
        using var client = new NamespaceClient(cgroup.Outside(() => netns.StartPython(Client)));

        var deniedAnswer = await client.AskAsync($"connect {netns.HostAddress} {Port(denied)}");
        var allowedAnswer = await client.AskAsync($"connect {netns.HostAddress} {Port(allowed)}");
        var synsDropped = l4.ReadStats().Rules.Single(rule => rule.Rule.Name == "deny-port").Stats.XdpPackets;

        l4.Apply(Policy(netns, $"""
            - name: deny-namespace
              action: deny
              from: {netns.NamespaceAddress}/32
            """));
        var fromDeniedCidr = await client.AskAsync($"connect {netns.HostAddress} {Port(allowed)}");
        var cidrDrops = l4.ReadStats().Rules.Single(rule => rule.Rule.Name == "deny-namespace").Stats.XdpPackets;

        Assert.Equal(("timeout", "connected", "timeout"), (deniedAnswer, allowedAnswer, fromDeniedCidr));
        Assert.True(synsDropped >= 1, $"deny-port dropped {synsDropped} packets");
        Assert.True(cidrDrops >= 1, $"deny-namespace dropped {cidrDrops} packets");
        var attachment = Assert.Single(l4.Interfaces);
        Assert.Equal((netns.HostLink, XdpFlags.DrvMode), (attachment.InterfaceName, attachment.Mode));
        output.WriteLine($"SYNs dropped by port rule: {synsDropped}; packets dropped by CIDR rule: {cidrDrops}");
    }

    [Fact]
    public async Task LiveRuleChange_TakesEffectWithinASecond_WhileAnAllowedTransferLosesNothing()
    {
        const int TransferBytes = 24 * 1024 * 1024;
        using var cgroup = SplicedCgroup.CreateDetached();
        using var netns = TestNetworkNamespace.Create();
        using var transferListener = LoopbackPair.Listen(netns.HostAddress);
        using var laterDenied = LoopbackPair.Listen(netns.HostAddress);
        var l4 = cgroup.AttachL4(Policy(netns, ""));
        using var sender = new NamespaceClient(cgroup.Outside(() => netns.StartPython(Client)));
        using var prober = new NamespaceClient(cgroup.Outside(() => netns.StartPython(Client)));
        Assert.Equal("connected", await prober.AskAsync($"connect {netns.HostAddress} {Port(laterDenied)}"));

        var senderDigest = sender.AskAsync($"send {netns.HostAddress} {Port(transferListener)} {TransferBytes} 8", TimeSpan.FromSeconds(60));
        using var accepted = await transferListener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var received = ReceiveAllAsync(accepted);
        await Task.Delay(500);
        Assert.False(senderDigest.IsCompleted, "the transfer must still run when the rule changes");
        var clock = Stopwatch.StartNew();
        l4.Apply(Policy(netns, $"""
            - name: deny-later
              action: deny
              to: {netns.HostAddress}
              protocol: tcp
              ports: {Port(laterDenied)}
            """));
        var inForce = clock.Elapsed;
        var probe = await prober.AskAsync($"connect {netns.HostAddress} {Port(laterDenied)}");
        var (bytes, digest) = await received.WaitAsync(TimeSpan.FromSeconds(60));

        output.WriteLine($"rule change in force {inForce.TotalMilliseconds:F1} ms after Apply began; transfer {bytes:N0} bytes");
        Assert.True(inForce < TimeSpan.FromSeconds(1), $"rule change took {inForce.TotalMilliseconds:F0} ms");
        Assert.Equal("timeout", probe);
        Assert.Equal(TransferBytes, bytes);
        Assert.Equal(await senderDigest, digest);
    }

    [Fact]
    public async Task AutoMode_OnInterfaceWithoutNativeXdp_FallsBackToGeneric_NativeModeFails_AndDetachLeavesNothing()
    {
        // An ifb interface the test makes: its driver has no native XDP.
        var name = $"mtd{Environment.ProcessId % 100000}";
        await Ip($"link add {name} type ifb");
        try
        {
            using (var cgroup = SplicedCgroup.CreateDetached())
            {
                var l4 = cgroup.AttachL4(L4Policies.Parse($"l4: {{interfaces: [{{name: {name}, mode: auto}}]}}"));
                var attachment = Assert.Single(l4.Interfaces);
                Assert.Equal(XdpFlags.SkbMode, attachment.Mode);
                Assert.Contains("xdpgeneric", await Ip($"link show dev {name}"), StringComparison.Ordinal);

                var native = Assert.Throws<InvalidOperationException>(() => l4.Apply(L4Policies.Parse($"l4: {{interfaces: [{{name: {name}, mode: native}}]}}")));
                Assert.Contains(name, native.Message, StringComparison.Ordinal);
                // The interface keeps the filter it had.
                Assert.Equal(XdpFlags.SkbMode, Assert.Single(l4.Interfaces).Mode);
                Assert.Contains("xdpgeneric", await Ip($"link show dev {name}"), StringComparison.Ordinal);
            }
            Assert.DoesNotContain("xdp", await Ip($"link show dev {name}"), StringComparison.Ordinal);
        }
        finally
        {
            await Ip($"link del {name}");
        }
    }

    private static async Task<string> Ip(string arguments)
    {
        var result = await Agent.MeshCli.ExecAsync("ip", arguments.Split(' '), TimeSpan.FromSeconds(10));
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StdOut;
    }

    private static L4Policy Policy(TestNetworkNamespace netns, string rules) => L4Policies.Parse($"""
        l4:
          interfaces:
            - name: {netns.HostLink}
              mode: native
          rules:
        {Indent(rules, "    ")}
        """);

    private static string Indent(string text, string prefix) =>
        text.Length == 0 ? $"{prefix}[]" : string.Join('\n', text.Split('\n').Select(line => prefix + line));

    private static int Port(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;

    private static async Task<(int Bytes, string Sha256)> ReceiveAllAsync(Socket socket)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        var total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>The python client in the namespace: one command line out, one answer line back.</summary>
    private sealed class NamespaceClient(Process process) : IDisposable
    {
        public async Task<string> AskAsync(string command, TimeSpan? timeout = null)
        {
            await process.StandardInput.WriteLineAsync(command);
            await process.StandardInput.FlushAsync();
            var answer = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
            return answer ?? throw new InvalidOperationException($"the namespace client ended: {await process.StandardError.ReadToEndAsync()}");
        }

        public void Dispose() => process.StandardInput.Close();
    }
}
