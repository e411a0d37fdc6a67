using Mesh.Agent.Hardening;
using Mesh.Agent.L7;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Programs;
using Mesh.Proxy.Management;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent;

/// <summary>Why the agent did not start: one line for the operator, and the lines before it (such as config errors).</summary>
public sealed class AgentStartException(string message, IReadOnlyList<string>? details = null) : Exception(message)
{
    public IReadOnlyList<string> Details { get; } = details ?? [];
}

/// <summary>
/// Runs the node agent as `mesh run` does: the process settings first, the checks that need no kernel state, the drop
/// to an unprivileged user, then the host with <see cref="MeshAgentServiceCollectionExtensions.AddMeshAgent"/>.
/// </summary>
public static class MeshAgentHost
{
    /// <summary>Runs until SIGINT or SIGTERM; throws <see cref="AgentStartException"/> when nothing could be started.</summary>
    public static async Task RunAsync(FileInfo? configFile, AgentOverrides overrides, string runAs, Action<ILoggingBuilder> configureLogging, CancellationToken cancellation)
    {
        // First, before any socket or thread of this process exists; the re-executed agent inherits them.
        ThreadingSettings.ApplyUnlessSet();
        NativeHeapArenas.CapUnlessSet();
        if (configFile is { Exists: false })
        {
            throw new AgentStartException($"config file {configFile.FullName} does not exist");
        }
        if (Preflight.MissingForDatapath() is { } missing)
        {
            throw new AgentStartException(missing);
        }
        if (LeastPrivilege.ShouldDrop(runAs))
        {
            try
            {
                if (UnprivilegedStart.PrepareAndReexec(configFile, overrides, runAs) is { } problem)
                {
                    throw new AgentStartException(problem);
                }
            }
            catch (Exception error) when (error is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                throw new AgentStartException(error.Message);
            }
        }

        var builder = Host.CreateApplicationBuilder();
        configureLogging(builder.Logging);
        builder.Services.AddMeshAgent(configFile, overrides);
        var host = builder.Build();
        // Disposed asynchronously: the L7 path's proxy host only has an asynchronous dispose.
        await using var hostDisposal = (IAsyncDisposable)host;
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (OperationCanceledException)
        {
            // SIGINT or SIGTERM while starting: what did start is torn down when the host is disposed.
            return;
        }
        catch (InvalidConfigException error)
        {
            throw new AgentStartException($"the config has {error.Errors.Count} error(s); nothing was attached", [.. error.Errors.Select(e => e.ToString())]);
        }
        catch (BpfLoadException error)
        {
            // Named after the process: a file left by an earlier run (maybe by another user) is never in the way.
            var logFile = Path.Combine(Path.GetTempPath(), $"mesh-verifier-{error.ObjectName}-{Environment.ProcessId}.log");
            await File.WriteAllTextAsync(logFile, error.LibBpfLog, CancellationToken.None);
            throw new AgentStartException($"{error.Message}; the verifier log is in {logFile} (or run with --verbose)");
        }
        catch (Exception error) when (error is BpfException or ProxyConfigException or ProxyStartException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            throw new AgentStartException(error.Message);
        }
        await host.WaitForShutdownAsync(CancellationToken.None);
    }
}
