using System.Net;
using System.Net.Sockets;
using Mesh.Config;

namespace Mesh.Agent.Services;

/// <summary>One probe of an endpoint as its service's health check says: a TCP connect, or an HTTP GET answered 2xx/3xx.</summary>
internal sealed class EndpointProbe(HttpClient http)
{
    /// <summary>Whether the endpoint passed, within the check's timeout.</summary>
    public async Task<bool> PassesAsync(IPEndPoint endpoint, HealthCheck check, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(check.Timeout);
        try
        {
            if (check.Kind == HealthCheckKind.Tcp)
            {
                using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(endpoint, timeout.Token);
                return true;
            }
            var url = new UriBuilder(Uri.UriSchemeHttp, endpoint.Address.ToString(), endpoint.Port, check.Path).Uri;
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return (int)response.StatusCode < 400;
        }
        catch (Exception error) when (error is SocketException or HttpRequestException or OperationCanceledException && !cancellation.IsCancellationRequested)
        {
            return false;
        }
    }
}
