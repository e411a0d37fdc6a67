using System.Globalization;

namespace Mesh.Cli.Agent;

/// <summary>
/// How the runtime's socket engine serves the agent and its node proxy: socket completions run their continuation on
/// the engine's epoll thread instead of hopping to the thread pool (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>),
/// on one epoll thread per two cores (<c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c>).
/// </summary>
/// <remarks>
/// <para>
/// Forwarding a request is a chain of short, non-blocking steps between socket operations. On a node where the proxy
/// shares two or four cores with the workloads, each hop to the thread pool is a context switch that costs about as
/// much as the step itself: inline, the L7 path served 12 to 20 % more requests/s at the same p99
/// (loadtest/l7-bench.sh). Kestrel keeps dispatching each request to its I/O queues: inlining that layer too
/// (<c>UnsafePreferInlineScheduling</c>) added a little throughput but doubled p99, every request then waiting behind
/// the others of its epoll thread.
/// </para>
/// <para>
/// With inline completions the runtime starts one epoll thread per core, so that they cannot become the bottleneck.
/// On two cores, one served 3 to 14 % more requests/s than two, with a p99 up to 25 % lower (paired runs of
/// loadtest/ab-bench.sh): each epoll wait returns more events, and the threads wake each other less.
/// Half the cores keeps that ratio on larger nodes, where it is not measured.
/// </para>
/// <para>
/// The runtime reads both variables once, when the process's first socket is made, so the agent sets them at the
/// very start of <c>mesh run</c> (the re-executed agent and the node proxy inherit them); an operator who sets either
/// keeps their value.
/// </para>
/// </remarks>
internal static class SocketEngineSettings
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>Sets each variable the environment does not already set; call before any socket exists.</summary>
    public static void ApplyUnlessSet()
    {
        SetUnlessSet(InlineCompletions, "1");
        SetUnlessSet(ThreadCount, EpollThreads(Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture));
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
