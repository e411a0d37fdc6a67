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
    public async Task<WorkloadStatus?> WaitServedAsync(string cgroup, TimeSpan timeout) =>
        (await WaitAsync(workloads => workloads.Any(w => w.Cgroup == cgroup && w.Listeners > 0), timeout))?.First(w => w.Cgroup == cgroup);

    /// <summary>The workload of <paramref name="cgroup"/> once the agent lists it, served or not; null after <paramref name="timeout"/>.</summary>
    public async Task<WorkloadStatus?> WaitListedAsync(string cgroup, TimeSpan timeout) =>
        (await WaitAsync(workloads => workloads.Any(w => w.Cgroup == cgroup), timeout))?.First(w => w.Cgroup == cgroup);

    /// <summary>Waits until the agent no longer lists <paramref name="cgroup"/>; false after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitGoneAsync(string cgroup, TimeSpan timeout) =>
        await WaitAsync(workloads => workloads.All(w => w.Cgroup != cgroup), timeout) is not null;

    /// <summary>The workloads once <paramref name="until"/> holds for them, or null after <paramref name="timeout"/>; the admin socket may not be up at first.</summary>
    private async Task<IReadOnlyList<WorkloadStatus>?> WaitAsync(Func<IReadOnlyList<WorkloadStatus>, bool> until, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested)
        {
            try
            {
                var workloads = (await StatusAsync()).Workloads ?? [];
                if (until(workloads))
                {
                    return workloads;
                }
            }
            catch (HttpRequestException)
            {
                // The agent is still starting: its admin API comes up last.
            }
            await Task.Delay(5);
        }
        return null;
    }

    public void Dispose() => _client.Dispose();
}
