using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Isolation;

/// <summary>
/// <c>source.labels</c> through the proxy's real handoff: a socket handed over with a workload's labels serves that
/// workload's clients, who are authorized by the labels; labels sent later (a container's, learned after its
/// namespace was served) apply to the connections already open.
/// </summary>
public sealed class WorkloadLabelAuthorizationTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task WorkloadListener_AuthorizedByItsLabels_AndByLabelsSentLater_OnTheSameConnection()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var web = Service("web-clients", 2, null) with { Source = new ServiceSource { Labels = [new("app", "web")] } };
        var other = Service("other-clients", 3, null) with { Source = new ServiceSource { Labels = [new("app", "other")] } };
        var api = Service("api", 1, upstream,
            Route("reports", "/reports") with { Authorization = new AuthorizationPolicy { AllowFrom = ["other-clients"] } },
            Route("all") with { Authorization = new AuthorizationPolicy { AllowFrom = ["web-clients"] } });
        await using var proxy = await TestProxy.StartAsync(api, web, other);
        using var handoff = await HandoffAsync(proxy);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();

        ListenerHandoff.Send(handoff.Agent, new ListenerHandoffMessage(1, ListenerChange.Added, null, Labels("app=other", "team=shop")), listener.SafeHandle);
        await WaitAsync(() => proxy.Host.WorkloadListenerCount == 1, "the proxy serves the handed-over socket");
        using var client = proxy.CreateClient(null);
        client.BaseAddress = new Uri($"http://{listener.LocalEndPoint}");

        using (var denied = await proxy.SendAsync(api, HttpMethod.Get, "/", client: client))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
            Assert.Equal("source other-clients is not allowed by route api/all", Assert.Single(denied.Headers.GetValues(MeshHeaders.DenyReason)));
        }
        using (var reports = await proxy.SendAsync(api, HttpMethod.Get, "/reports", client: client))
        {
            Assert.Equal(HttpStatusCode.OK, reports.StatusCode);
        }

        ListenerHandoff.Send(handoff.Agent, new ListenerHandoffMessage(1, ListenerChange.Relabelled, null, Labels("app=web")), null);
        Assert.Equal(HttpStatusCode.OK, await PollStatusAsync(proxy, api, client, HttpStatusCode.OK));

        ListenerHandoff.Send(handoff.Agent, new ListenerHandoffMessage(1, ListenerChange.Relabelled, null, Labels()), null);
        Assert.Equal(HttpStatusCode.Forbidden, await PollStatusAsync(proxy, api, client, HttpStatusCode.Forbidden));
        var hits = upstream.Hits;
        using (var unknown = await proxy.SendAsync(api, HttpMethod.Get, "/", client: client))
        {
            Assert.Equal("unknown source is not allowed by route api/all", Assert.Single(unknown.Headers.GetValues(MeshHeaders.DenyReason)));
        }
        Assert.Equal(hits, upstream.Hits);
        Assert.Single(upstream.Requests, r => r.PathAndQuery == "/reports");
        // One connection from the client throughout: the labels changed under it.
        Assert.Equal(1, TcpConnectionsTo((IPEndPoint)listener.LocalEndPoint!));
    }

    /// <summary>Requests GET / until it gets <paramref name="expected"/> (the relabel reaches the proxy asynchronously); returns the last status.</summary>
    private static async Task<HttpStatusCode> PollStatusAsync(TestProxy proxy, ServiceConfig api, HttpClient client, HttpStatusCode expected)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var response = await proxy.SendAsync(api, HttpMethod.Get, "/", client: client);
            if (response.StatusCode == expected || clock.Elapsed > Within)
            {
                return response.StatusCode;
            }
            await Task.Delay(10);
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Within, $"not within {Within.TotalSeconds} s: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>Established TCP connections to <paramref name="endPoint"/> on this host (from /proc/net/tcp).</summary>
    private static int TcpConnectionsTo(IPEndPoint endPoint) =>
        System.Net.NetworkInformation.IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpConnections()
            .Count(c => c.LocalEndPoint.Equals(endPoint) && c.State == System.Net.NetworkInformation.TcpState.Established);

    private static Dictionary<string, string> Labels(params string[] pairs) =>
        pairs.Select(pair => pair.Split('=')).ToDictionary(pair => pair[0], pair => pair[1]);

    /// <summary>The agent's end of a handoff channel, with the proxy's receiver connected to it.</summary>
    private static async Task<Handoff> HandoffAsync(TestProxy proxy)
    {
        var name = $"mesh-label-test-{Guid.NewGuid():N}";
        var server = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        server.Bind(new UnixDomainSocketEndPoint("\0" + name));
        server.Listen();
        var accepting = server.AcceptAsync();
        var receiver = WorkloadListenerReceiver.Start(name, proxy.Host, NullLogger.Instance);
        var agent = await accepting;
        agent.Blocking = true;
        return new Handoff(server, agent, receiver);
    }

    private sealed record Handoff(Socket Server, Socket Agent, WorkloadListenerReceiver Receiver) : IDisposable
    {
        public void Dispose()
        {
            Receiver.Dispose();
            Agent.Dispose();
            Server.Dispose();
        }
    }
}
