using System.Globalization;

namespace Mesh.Agent.Hardening;

/// <summary>
/// Runtime settings for the agent and its node proxy: socket completions inline on the epoll thread, one epoll thread
/// per two cores, and no thread-pool hill climbing. Forwarding is a chain of short non-blocking steps, so each hop or
/// extra worker costs a context switch; the measurements are in loadtest/README.md. An operator's value wins.
/// </summary>
internal static class ThreadingSettings
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";
    private const string HillClimbingDisable = "DOTNET_HillClimbing_Disable";

    /// <summary>
    /// Sets each variable the environment does not set; call before any socket exists. The runtime reads them once, so
    /// they hold for sure only in the processes started after this (the re-executed agent and the node proxy).
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
