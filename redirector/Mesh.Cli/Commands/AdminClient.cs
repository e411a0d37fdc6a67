using System.Net.Http;
using System.Net.Sockets;
using Mesh.Agent;

namespace Mesh.Cli.Commands;

/// <summary>An HttpClient that talks to a running agent's admin API over its Unix socket.</summary>
internal static class AdminClient
{
    public static HttpClient For(string pinDirectory)
    {
        var socketPath = AgentState.AdminSocketPathFor(pinDirectory);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellation) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        // The host name is never resolved: every connection goes to the socket.
        return new HttpClient(handler) { BaseAddress = new Uri("http://mesh-agent/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The sentence for a socket the agent is not behind, or that this user may not open.</summary>
    public static string Explain(HttpRequestException error, string pinDirectory) => error.InnerException switch
    {
        SocketException { SocketErrorCode: SocketError.AccessDenied } =>
            $"permission denied on {AgentState.AdminSocketPathFor(pinDirectory)}: the admin socket is root's (run it as root)",
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable or SocketError.ConnectionRefused } or SocketException { ErrorCode: 2 } =>
            $"no Mesh agent is listening on {AgentState.AdminSocketPathFor(pinDirectory)} (start one with 'mesh run')",
        _ => $"talking to the agent on {AgentState.AdminSocketPathFor(pinDirectory)} failed: {error.Message}",
    };
}
