using System.Globalization;

namespace Mesh.Cli.Agent;

/// <summary>
/// How the runtime runs the agent's and its node proxy's work: socket completions run their continuation on the socket
/// engine's epoll thread instead of hopping to the thread pool (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>), on
/// one epoll thread per two cores (<c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c>), and the thread pool keeps to its
/// minimum of one worker per core instead of hill-climbing above it (<c>DOTNET_HillClimbing_Disable</c>).
/// </summary>
/// <remarks>
/// <para>
/// Forwarding a request is a chain of short, non-blocking steps between socket operations. On a node where the proxy
/// shares two or four cores with the workloads, each hop to the thread pool is a context switch that costs about as
/// much as the step itself: inline, the L7 path served 12 to 20 % more requests/s at the same p99
/// (loadtest/l7-bench.sh). The node proxy inlines Kestrel's layer too (<c>MeshProxyHost</c>), so that one epoll thread
/// carries a request from the client's bytes to the upstream and the answer back, like an nginx worker. That was
/// tried earlier with two epoll threads and hill climbing, and doubled p99; with one epoll thread per two cores and
/// the pool at its minimum it served 31 % more requests/s at 1 KiB and 12 % more at 16 KiB, at about the same p99.
/// </para>
/// <para>
/// With inline completions the runtime starts one epoll thread per core, so that they cannot become the bottleneck.
/// On two cores, one served 3 to 14 % more requests/s than two, with a p99 up to 25 % lower (paired runs of
/// loadtest/ab-bench.sh): each epoll wait returns more events, and the threads wake each other less.
/// Half the cores keeps that ratio on larger nodes, where it is not measured.
/// </para>
/// <para>
/// Hill climbing adds workers while throughput seems to grow with them. The proxy's work never blocks a worker, so
/// extra workers only take turns: on two cores it ran four, which woke each other 1.6 times per request; held at its
/// minimum the pool ran one busy worker, with 0.8 context switches per request, 2 to 13 % more requests/s, a p99 9 to
/// 18 % lower and less CPU (paired runs of loadtest/ab-bench.sh). Blocking is still covered: the pool adds a worker
/// when a queued item starves or a worker blocks on a wait, whether it hill-climbs or not.
/// </para>
/// <para>
/// The runtime reads these variables once, when the process makes its first socket or starts its thread pool, so the
/// agent sets them at the very start of <c>mesh run</c>, where they reach the re-executed agent and the node proxy at
/// their start; an operator who sets one keeps their value.
/// </para>
/// </remarks>
internal static class ThreadingSettings
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";
    private const string HillClimbingDisable = "DOTNET_HillClimbing_Disable";

    /// <summary>
    /// Sets each variable the environment does not already set; call before any socket exists. This process's thread
    /// pool may already run, so the hill-climbing setting is sure to hold only in the processes it starts (the
    /// re-executed agent and the node proxy, which AgentProcessTests checks).
    /// </summary>
    public static void ApplyUnlessSet()
    {
        SetUnlessSet(InlineCompletions, "1");
        SetUnlessSet(ThreadCount, EpollThreads(Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture));
        SetUnlessSet(HillClimbingDisable, "1");
    }

    /// <summary>One epoll thread per two cores, at least one.</summary>
    public static int EpollThreads(int processorCount) => Math.Max(1, processorCount / 2);

    private static void SetUnlessSet(string variable, string value)
    {
        if (Environment.GetEnvironmentVariable(variable) is null)
        {
            Environment.SetEnvironmentVariable(variable, value);
        }
    }
}
