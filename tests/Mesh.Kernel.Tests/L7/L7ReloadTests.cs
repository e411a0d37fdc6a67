using System.Diagnostics;
using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.L7;

/// <summary>Editing the config file while the agent serves: valid edits apply within a second, invalid ones change nothing.</summary>
public sealed class L7ReloadTests
{
    private static readonly IPEndPoint Service = new(IPAddress.Parse("127.0.0.40"), 8080);

    [Fact]
    public async Task EditConfig_ValidThenInvalid_AppliesWithinOneSecondKeepsInFlightRequestAndKeepsLastGood()
    {
        await using var upstream = await SlowUpstream.StartAsync(IPAddress.Loopback);
        using var sandbox = AgentSandbox.Create("reload");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, Config(upstream, denied: "/nothing"));
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"http://{Service}/reports")).StatusCode);
            var inFlight = client.GetAsync($"http://{Service}/slow");

            await File.WriteAllTextAsync(configFile, Config(upstream, denied: "/reports"));
            var watch = Stopwatch.StartNew();
            while ((await client.GetAsync($"http://{Service}/reports")).StatusCode != HttpStatusCode.Forbidden)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), "the valid edit was not applied within 1 s");
                await Task.Delay(20);
            }

            using var slow = await inFlight;
            Assert.Equal(HttpStatusCode.OK, slow.StatusCode);
            Assert.Equal("upstream", await slow.Content.ReadAsStringAsync());

            await File.WriteAllTextAsync(configFile, Config(upstream, denied: "/reports").Replace("action: deny", "action: maybe"));
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync($"http://{Service}/reports")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"http://{Service}/other")).StatusCode);
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    [Fact]
    public async Task Request_ServiceWhoseEndpointIsItsOwnAddress_ReachesUpstreamWithoutLoopingThroughProxy()
    {
        // No endpoints in the config: the service runs at the address clients dial. The proxy's own
        // upstream connection to that address is made by the proxy's uid and is not diverted again.
        await using var upstream = await SlowUpstream.StartAsync(IPAddress.Parse("127.0.0.41"));
        using var sandbox = AgentSandbox.Create("noloop");
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, $$"""
                services:
                  - name: self
                    address: {{upstream.Address}}
                    port: {{upstream.Port}}
                    rules:
                      - name: all
                        filters:
                          - type: ResponseHeaderModifier
                            responseHeaderModifier: { set: [{ name: x-mesh-proxied, value: "1" }] }
                """);
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();
            using var client = L7Node.Client();

            using var response = await client.GetAsync($"http://{upstream}/x");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("1", Assert.Single(response.Headers.GetValues("x-mesh-proxied")));
            Assert.Equal("upstream", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            File.Delete(configFile);
        }
    }

    private static string Config(SlowUpstream upstream, string denied) => $$"""
        services:
          - name: reports
            address: {{Service.Address}}
            port: {{Service.Port}}
            endpoints: [{{upstream}}]
            rules:
              - name: blocked
                matches: [{ path: { type: PathPrefix, value: {{denied}} } }]
                action: deny
              - name: rest
                timeouts: { request: 10s }
        """;
}
