using System.Diagnostics;
using Mesh.Kernel.Tests.Workloads;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// Services whose endpoints are containers of a real Docker daemon, used from a client container through the service
/// address: spliced by the kernel (no HTTP policy) or through the node proxy (HTTP policy), while replicas are
/// scaled, killed, and started and stopped over and over.
/// </summary>
public sealed class DockerServiceTests(DockerDaemonFixture fixture, ITestOutputHelper output) : IClassFixture<DockerDaemonFixture>
{
    private const string ServiceAddress = "10.96.81.10";
    private const string Url = $"http://{ServiceAddress}/";

    // Each test selects its own containers, so none that another test left behind is counted.
    private readonly string _label = $"x-{Guid.NewGuid():n}";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ScaleToFiveReplicasAndBackToOne_EachGetsItsShareOfAThousandRequests(bool httpPolicy)
    {
        await using var node = await DockerNode.StartAsync(fixture.Daemon, "dkscale", ServiceX(httpPolicy));
        var client = await node.RunClientAsync();
        var replicas = new List<string>();
        for (var i = 1; i <= 5; i++)
        {
            replicas.Add(await node.RunReplicaAsync(_label, $"replica{i}"));
        }
        string[] names = ["replica1", "replica2", "replica3", "replica4", "replica5"];
        await node.WaitForEndpointsAsync("x", 5, TimeSpan.FromSeconds(10));
        await node.WaitServedAsync([client.Container, .. replicas], TimeSpan.FromSeconds(5));
        Assert.True(await client.WaitForAnswersFromAsync(Url, names), "the five replicas did not all answer within 15 s");
        var redirectedBefore = await node.Sandbox.BytesRedirectedFromStatusAsync();

        var clock = Stopwatch.StartNew();
        var replies = await client.GetAsync(Url, 1000);
        output.WriteLine($"1,000 requests at 5 replicas in {clock.Elapsed.TotalSeconds:F1} s (shared, noisy machine)");

        Assert.Equal(1000, replies.Count);
        Assert.DoesNotContain(replies, reply => reply.Body is null);
        var shares = replies.GroupBy(reply => reply.Body!).ToDictionary(group => group.Key, group => group.Count());
        output.WriteLine($"shares: {string.Join(", ", shares.OrderBy(s => s.Key).Select(s => $"{s.Key} {s.Value}"))}");
        Assert.Equal(names, shares.Keys.Order());
        Assert.All(shares.Values, share => Assert.InRange(share, 150, 250)); // 20 % +- 5 points of 1,000
        if (httpPolicy)
        {
            Assert.Contains("403 Forbidden", await client.GetOnceAsync($"{Url}admin"));
        }
        else
        {
            var redirected = await node.Sandbox.BytesRedirectedFromStatusAsync() - redirectedBefore;
            var bodies = replies.Sum(reply => reply.Body!.Length + 1);
            Assert.True(redirected >= (ulong)bodies, $"{redirected} bytes spliced, fewer than the {bodies} bytes of the bodies alone");
        }

        await node.RemoveAsync(replicas.Skip(1).ToList());
        await node.WaitForEndpointsAsync("x", 1, TimeSpan.FromSeconds(10));
        Assert.True(await client.WaitForAnswersFromAsync(Url, ["replica1"]), "replica1 alone did not answer within 15 s");
        var afterScaleDown = await client.GetAsync(Url, 1000);

        Assert.Equal(1000, afterScaleDown.Count(reply => reply.Body == "replica1"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KilledReplica_NoRequestFailsFromTwoSecondsAfterTheKill(bool httpPolicy)
    {
        await using var node = await DockerNode.StartAsync(fixture.Daemon, "dkkill", ServiceX(httpPolicy));
        var client = await node.RunClientAsync();
        var victim = await node.RunReplicaAsync(_label, "victim");
        string[] survivors = [await node.RunReplicaAsync(_label, "survivor1"), await node.RunReplicaAsync(_label, "survivor2")];
        await node.WaitForEndpointsAsync("x", 3, TimeSpan.FromSeconds(10));
        await node.WaitServedAsync([client.Container, victim, .. survivors], TimeSpan.FromSeconds(5));
        Assert.True(await client.WaitForAnswersFromAsync(Url, ["victim", "survivor1", "survivor2"]), "the three replicas did not all answer within 15 s");

        // A bounded loop: at most 5,000 requests, for 8 s; the kill comes 2 s into it.
        var requests = client.GetAsync(Url, 5000, until: ContainerClient.Uptime() + 8);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await fixture.Daemon.DockerAsync($"kill {victim}");
        var killedAt = ContainerClient.Uptime();
        var replies = await requests;

        var settled = replies.Where(reply => reply.StartedAt >= killedAt + 2).ToList();
        var failed = replies.Where(reply => reply.Body is null).Select(reply => $"{reply.StartedAt - killedAt:+0.00;-0.00} s").ToList();
        output.WriteLine($"{replies.Count} requests, {settled.Count} from 2 s after the kill; failed at (relative to the kill): [{string.Join(", ", failed)}] (shared, noisy machine)");
        Assert.Contains(replies, reply => reply.StartedAt < killedAt && reply.Body == "victim");
        Assert.True(settled.Count >= 20, $"only {settled.Count} requests from 2 s after the kill");
        Assert.All(settled, reply => Assert.True(reply.Body is "survivor1" or "survivor2", $"the request at +{reply.StartedAt - killedAt:F2} s got {reply.Body ?? "no answer"}"));
    }

    [Fact]
    public async Task HundredContainerStartStopCycles_LeaveFdsThreadsListenersWorkloadsAndMapEntriesWhereTheyStarted()
    {
        // Probed once an hour: no health-probe socket comes and goes while descriptors are counted.
        await using var node = await DockerNode.StartAsync(fixture.Daemon, "dkcycle", $$"""
              - name: x
                address: {{ServiceAddress}}
                port: 80
                selector: { mesh.service: {{_label}} }
                healthCheck: { interval: 1h, timeout: 1s }
              - name: y
                address: 10.96.81.11
                port: 80
                selector: { mesh.service: {{_label}} }
                healthCheck: { interval: 1h, timeout: 1s }
                rules: [{ name: admin, matches: [{ path: { type: PathPrefix, value: /admin } }], action: deny }]

            """);
        await CycleAsync(node, 0); // warms up what the agent makes once (threads of the pool, the proxy's handoff)
        var proxyPid = (await node.Admin.StatusAsync()).Divert!.ProxyPid!.Value;
        var before = await AgentFootprint.SettledAsync(node.Agent.Pid, proxyPid, node.Sandbox, node.Admin, expected: null);
        var fdsBefore = AgentFootprint.FdTargets(node.Agent.Pid);

        var clock = Stopwatch.StartNew();
        for (var cycle = 1; cycle <= 100; cycle++)
        {
            await CycleAsync(node, cycle);
        }
        output.WriteLine($"100 cycles in {clock.Elapsed.TotalSeconds:F1} s (shared, noisy machine)");
        var after = await AgentFootprint.AssertBackAsync(before, fdsBefore, node.Agent.Pid, proxyPid, node.Sandbox, node.Admin, output);
        Assert.Equal(0, after.Workloads);
        Assert.Equal(1, after.ServedNamespaces); // the agent's own
    }

    /// <summary>One container: started, served as a workload and an endpoint of both services; removed, and gone from both.</summary>
    private async Task CycleAsync(DockerNode node, int cycle)
    {
        var container = await node.RunReplicaAsync(_label, $"cycle{cycle}");
        Assert.True(await node.Admin.WaitServedAsync(node.CgroupOf(container), TimeSpan.FromSeconds(5)) is not null, $"cycle {cycle}: not served");
        await node.WaitForEndpointsAsync("x", 1, TimeSpan.FromSeconds(5));
        await node.WaitForEndpointsAsync("y", 1, TimeSpan.FromSeconds(5));
        await node.RemoveAsync(container);
        Assert.True(await node.Admin.WaitGoneAsync(node.CgroupOf(container), TimeSpan.FromSeconds(5)), $"cycle {cycle}: not removed");
        await node.WaitForEndpointsAsync("x", 0, TimeSpan.FromSeconds(5));
        await node.WaitForEndpointsAsync("y", 0, TimeSpan.FromSeconds(5));
    }

    /// <summary>The service x selecting this test's replicas; with <paramref name="httpPolicy"/> a deny rule sends it through the node proxy.</summary>
    private string ServiceX(bool httpPolicy) => $$"""
          - name: x
            address: {{ServiceAddress}}
            port: 80
            selector: { mesh.service: {{_label}} }

        """ + (httpPolicy ? "    rules: [{ name: admin, matches: [{ path: { type: PathPrefix, value: /admin } }], action: deny }]\n" : "");
}
