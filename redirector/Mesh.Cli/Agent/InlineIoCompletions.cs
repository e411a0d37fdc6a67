namespace Mesh.Cli.Agent;

/// <summary>
/// Socket completions in the agent run their continuation on the socket engine's epoll thread instead of hopping to the
/// thread pool (the runtime's <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>).
/// </summary>
/// <remarks>
/// Forwarding a request is a chain of short, non-blocking steps between socket operations. On a node where the proxy
/// shares two or four cores with the workloads, each hop to the thread pool is a context switch that costs about as
/// much as the step itself: inline, the L7 path served 12 to 20 % more requests/s at the same p99
/// (loadtest/l7-bench.sh). Kestrel keeps dispatching each request to its I/O queues: inlining that layer too
/// (<c>UnsafePreferInlineScheduling</c>) added a little throughput but doubled p99, every request then waiting behind
/// the others of the one epoll thread. The runtime reads the variable once, when its first socket is made, so the
/// agent sets it at the very start of <c>mesh run</c>; an operator who sets it (to 0, say) keeps their value.
/// </remarks>
internal static class InlineIoCompletions
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Turns inline completions on unless the environment already says either way; call before any socket exists.</summary>
    public static void EnableUnlessSet()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
