using System.Net.Http.Json;
using System.Net.Sockets;
using Mesh.Agent;
using Mesh.Agent.Admin;
using Mesh.Agent.Workloads;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// The running agent's status straight from its admin socket: `mesh status` starts a process per call, too slow to
/// time a workload being served to the millisecond.
/// </summary>
public sealed class AgentAdmin(string pinDirectory) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(AgentState.AdminSocketPathFor(pinDirectory)), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://agent"), Timeout = TimeSpan.FromSeconds(10) };

    public async Task<StatusSnapshot> StatusAsync() =>
        await _client.GetFromJsonAsync<StatusSnapshot>("/v1/status", StatusSnapshot.Json) ?? throw new InvalidOperationException("no status");

    /// <summary>The workload of <paramref name="cgroup"/> once the proxy listens in its namespace; null if that takes longer than <paramref name="timeout"/>.</summary>
    public async Task<WorkloadStatus?> WaitServedAsync(string cgroup, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested)
        {
            if ((await StatusAsync()).Workloads?.FirstOrDefault(w => w.Cgroup == cgroup && w.Listeners > 0) is { } served)
            {
                return served;
            }
            await Task.Delay(5);
        }
        return null;
    }

    /// <summary>Waits until the agent no longer lists <paramref name="cgroup"/>; false after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitGoneAsync(string cgroup, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested)
        {
            if ((await StatusAsync()).Workloads?.Any(w => w.Cgroup == cgroup) != true)
            {
                return true;
            }
            await Task.Delay(5);
        }
        return false;
    }

    public void Dispose() => _client.Dispose();
}
