using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Routing;

namespace Mesh.Proxy.Tests.Isolation;

/// <summary>
/// The agent hands the proxy listening sockets over a SOCK_SEQPACKET Unix socket (SCM_RIGHTS): the one received is
/// the very socket sent, still listening; and a client of a workload listener is named by its workload, never by address.
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

        ListenerHandoff.Send(agent, new ListenerHandoffMessage(7, "web", Added: true), listener.SafeHandle);
        ListenerHandoff.Send(agent, new ListenerHandoffMessage(7, "web", Added: false), null);
        var added = ListenerHandoff.Receive(proxy);
        var removed = ListenerHandoff.Receive(proxy);

        Assert.Equal(new ListenerHandoffMessage(7, "web", Added: true), added?.Message);
        using var received = new Socket(added!.Value.Socket!);
        Assert.Equal(listener.LocalEndPoint, received.LocalEndPoint);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var accepted = received.Accept();
        Assert.Equal(client.LocalEndPoint, accepted.RemoteEndPoint);
        Assert.Equal(new ListenerHandoffMessage(7, "web", Added: false), removed?.Message);
        Assert.Null(removed?.Socket);
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
