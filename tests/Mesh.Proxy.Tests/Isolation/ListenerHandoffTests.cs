using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Routing;

namespace Mesh.Proxy.Tests.Isolation;

/// <summary>
/// The agent hands the proxy listening sockets over a SOCK_SEQPACKET Unix socket (SCM_RIGHTS): the one received is
/// the very socket sent, still listening, with the workload's name and labels; and a client of a workload listener is
/// named by its workload's name or labels, never by address.
/// </summary>
public class ListenerHandoffTests
{
    [Fact]
    public void Send_ListeningSocket_ReceivedWithItsMessage_AndStillListening()
    {
        var (agent, proxy) = Pair();
        using var _ = agent;
        using var __ = proxy;
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();

        ListenerHandoff.Send(agent, new ListenerHandoffMessage(7, ListenerChange.Added, "web", Labels("app=web", "tier=front")), listener.SafeHandle);
        ListenerHandoff.Send(agent, new ListenerHandoffMessage(7, ListenerChange.Removed, "web", Labels()), null);
        var added = ListenerHandoff.Receive(proxy);
        var removed = ListenerHandoff.Receive(proxy);

        Assert.Equal((7L, ListenerChange.Added, "web"), (added!.Value.Message.Id, added.Value.Message.Change, added.Value.Message.Workload));
        Assert.Equal(Labels("app=web", "tier=front"), added.Value.Message.Labels);
        using var received = new Socket(added!.Value.Socket!);
        Assert.Equal(listener.LocalEndPoint, received.LocalEndPoint);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var accepted = received.Accept();
        Assert.Equal(client.LocalEndPoint, accepted.RemoteEndPoint);
        Assert.Equal((7L, ListenerChange.Removed), (removed!.Value.Message.Id, removed.Value.Message.Change));
        Assert.Null(removed.Value.Socket);
    }

    [Fact]
    public void Send_LabelsOverTheMessageLimit_ThrowsBeforeSending_AndTheChannelStaysUsable()
    {
        var (agent, proxy) = Pair();
        using var _ = agent;
        using var __ = proxy;
        var huge = new Dictionary<string, string> { ["blob"] = new string('x', ListenerHandoff.MaxMessageBytes) };

        Assert.Throws<ArgumentException>(() => ListenerHandoff.Send(agent, new ListenerHandoffMessage(1, ListenerChange.Relabelled, null, huge), null));
        ListenerHandoff.Send(agent, new ListenerHandoffMessage(1, ListenerChange.Relabelled, null, Labels("app=web")), null);

        Assert.Equal(Labels("app=web"), ListenerHandoff.Receive(proxy)!.Value.Message.Labels);
    }

    [Fact]
    public void Receive_AfterTheAgentClosed_IsNull()
    {
        var (agent, proxy) = Pair();
        using var _ = proxy;
        agent.Dispose();

        Assert.Null(ListenerHandoff.Receive(proxy));
    }

    [Fact]
    public void Identify_WorkloadListener_ByItsWorkload_NeverByAddress()
    {
        var config = new MeshConfigLoader().Parse("""
            workloads: [{ name: web, cgroup: /sys/fs/cgroup/web }]
            services:
              - { name: web-client, address: 10.96.0.11, port: 80, source: { workload: web } }
              - { name: local, address: 10.96.0.12, port: 80, source: { cidrs: [127.0.0.0/8] } }
              - { name: api, address: 10.96.0.13, port: 80, rules: [{ name: callers, authorization: { allowFrom: [web-client, local] } }] }
            """, "mesh.yaml").Config!;
        var sources = new SourceIdentifier(config.Services, new Dictionary<string, ulong>());

        Assert.Equal("web-client", sources.Identify(IPAddress.Loopback, 0, new WorkloadListener("web")));
        Assert.Null(sources.Identify(IPAddress.Loopback, 0, new WorkloadListener("batch")));
        Assert.Null(sources.Identify(IPAddress.Loopback, 0, new WorkloadListener(null)));
        Assert.Equal("local", sources.Identify(IPAddress.Loopback));
    }

    [Fact]
    public void Identify_WorkloadListener_ByLabels_MostLabelsFirst_NameBeforeLabels_NeverByAddress()
    {
        var config = new MeshConfigLoader().Parse("""
            workloads: [{ name: batch, cgroup: /sys/fs/cgroup/batch }]
            services:
              - { name: web, address: 10.96.0.11, port: 80, source: { labels: { app: web } } }
              - { name: web-canary, address: 10.96.0.12, port: 80, source: { labels: { app: web, track: canary } } }
              - { name: batch, address: 10.96.0.13, port: 80, source: { workload: batch } }
              - { name: local, address: 10.96.0.14, port: 80, source: { cidrs: [127.0.0.0/8] } }
              - { name: unallowed, address: 10.96.0.15, port: 80, source: { labels: { app: other } } }
              - name: api
                address: 10.96.0.10
                port: 80
                rules: [{ name: callers, authorization: { allowFrom: [web, web-canary, batch, local] } }]
            """, "mesh.yaml").Config!;
        var sources = new SourceIdentifier(config.Services, new Dictionary<string, ulong>());

        Assert.Equal("web", sources.Identify(IPAddress.Loopback, 0, new WorkloadListener(null, Labels("app=web", "team=shop"))));
        Assert.Equal("web-canary", sources.Identify(IPAddress.Loopback, 0, new WorkloadListener(null, Labels("track=canary", "app=web"))));
        Assert.Equal("batch", sources.Identify(IPAddress.Loopback, 0, new WorkloadListener("batch", Labels("app=web"))));
        Assert.Null(sources.Identify(IPAddress.Loopback, 0, new WorkloadListener(null, Labels("app=Web"))));
        // A source that no rule allows names nobody: the client is unknown, not 'unallowed'.
        Assert.Null(sources.Identify(IPAddress.Loopback, 0, new WorkloadListener(null, Labels("app=other"))));
        var relabelled = new WorkloadListener(null);
        Assert.Null(sources.Identify(IPAddress.Loopback, 0, relabelled));
        relabelled.Relabel(Labels("app=web"));
        Assert.Equal("web", sources.Identify(IPAddress.Loopback, 0, relabelled));
    }

    private static Dictionary<string, string> Labels(params string[] pairs) =>
        pairs.Select(pair => pair.Split('=')).ToDictionary(pair => pair[0], pair => pair[1]);

    private static (Socket Agent, Socket Proxy) Pair()
    {
        var name = $"mesh-handoff-test-{Guid.NewGuid():N}";
        using var server = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        server.Bind(new UnixDomainSocketEndPoint("\0" + name));
        server.Listen();
        var proxy = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        proxy.Connect(new UnixDomainSocketEndPoint("\0" + name));
        return (server.Accept(), proxy);
    }
}
