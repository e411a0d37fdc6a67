using System.Diagnostics;
using System.Globalization;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// A process in a network namespace the proxy does not listen in (here: in the served cgroup itself, so never a
/// workload) never gets a connect rewritten to a loopback where nobody listens: each service's failMode applies —
/// open connects where it dialled, closed is refused at once.
/// </summary>
public sealed class UnservedNamespaceTests
{
    [Fact]
    public async Task ClientInUnservedNamespace_FailOpenConnectsDirect_FailClosedIsRefusedAtOnce()
    {
        var openPort = LoopbackPair.FreePort();
        var closedPort = LoopbackPair.FreePort();
        using var sandbox = AgentSandbox.Create("wlunserved");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                services:
                  - name: open
                    address: 127.0.0.1
                    port: {{openPort}}
                    failMode: open
                    rules:
                      - name: admin
                        matches: [{ path: { type: PathPrefix, value: /admin } }]
                        action: deny
                  - name: closed
                    address: 127.0.0.1
                    port: {{closedPort}}
                    failMode: closed
                    rules:
                      - name: admin
                        matches: [{ path: { type: PathPrefix, value: /admin } }]
                        action: deny
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            using var admin = new AgentAdmin(sandbox.PinDirectory);
            var before = (await admin.StatusAsync()).Divert!.Counters;

            // In its own namespace, both services have a server on that namespace's 127.0.0.1, which only a connect
            // that was not diverted can reach: python's http.server answers /admin with 404, where the policy says 403.
            var script = $$"""
                ip link set lo up
                python3 -m http.server {{openPort}} --bind 127.0.0.1 >/dev/null 2>&1 &
                python3 -m http.server {{closedPort}} --bind 127.0.0.1 >/dev/null 2>&1 &
                for i in $(seq 100); do curl -s -o /dev/null --noproxy '*' http://127.0.0.1:{{openPort}}/ 2>/dev/null && break; sleep 0.05; done
                curl -s --noproxy '*' -o /dev/null -w '%{http_code}\n' http://127.0.0.1:{{openPort}}/admin
                curl -s --noproxy '*' -o /dev/null -w '%{http_code} %{time_total}\n' http://127.0.0.1:{{closedPort}}/admin; echo "exit $?"
                kill %1 %2
                """;
            var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "-c", "echo $$ > \"$0/cgroup.procs\" && exec unshare --net sh -c \"$1\"", sandbox.CgroupPath, script })
            {
                start.ArgumentList.Add(argument);
            }
            using var client = Process.Start(start)!;
            var lines = (await client.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            await client.WaitForExitAsync();
            var after = (await admin.StatusAsync()).Divert!.Counters;

            Assert.True(lines.Length == 3, string.Join(" | ", lines));
            Assert.Equal("404", lines[0]);
            var closed = lines[1].Split(' ');
            Assert.Equal("000", closed[0]);
            Assert.True(double.Parse(closed[1], CultureInfo.InvariantCulture) < 0.5, $"refused after {closed[1]} s");
            Assert.Equal("exit 7", lines[2]); // curl: failed to connect
            Assert.True(after.FailedOpen > before.FailedOpen, $"fail-open count {before.FailedOpen} -> {after.FailedOpen}");
            Assert.True(after.FailedClosed > before.FailedClosed, $"fail-closed count {before.FailedClosed} -> {after.FailedClosed}");
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }
}
