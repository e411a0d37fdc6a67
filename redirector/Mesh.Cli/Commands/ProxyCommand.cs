using System.CommandLine;
using Mesh.Agent.Hardening;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Routing;
using Microsoft.Extensions.Logging;

namespace Mesh.Cli.Commands;

/// <summary>
/// `mesh proxy` (hidden): the node proxy's process, which `mesh run` starts without capabilities and instructs over
/// standard input (see <see cref="ProxyInstructionServer"/>). It ends, draining, when its input ends or on SIGTERM.
/// </summary>
internal static partial class ProxyCommand
{
    public static Command Create()
    {
        var verbose = CommonOptions.Verbose();
        var command = new Command("proxy", "The node proxy's process, started by `mesh run`; reads its instructions on standard input.") { verbose };
        command.Hidden = true;
        command.SetAction((result, cancellation) => RunAsync(result.GetValue(verbose), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(bool verbose, CancellationToken cancellation)
    {
        // The proxy's threads come and go with the load, each of which could take a malloc arena of its own.
        NativeHeapArenas.CapUnlessSet();
        // Standard output carries the answers to the agent and nothing else: anything written to the console goes to stderr.
        await using var answers = new StreamWriter(Console.OpenStandardOutput());
        Console.SetOut(Console.Error);
        using var loggerFactory = LoggerFactory.Create(logging => AgentLogging.Configure(logging, verbose, allToStandardError: true));
        var logger = loggerFactory.CreateLogger(typeof(ProxyCommand).FullName!);
        var capabilities = EffectiveCapabilities();
        if (capabilities != 0)
        {
            Log.HoldsCapabilities(logger, Environment.ProcessId, capabilities);
        }
        else
        {
            Log.Unprivileged(logger, Environment.ProcessId);
        }

        using var input = new StreamReader(Console.OpenStandardInput());
        var server = new ProxyInstructionServer(input, answers, new SocketOriginalDestinationResolver(), loggerFactory);
        return await server.RunAsync(cancellation) ? 0 : 1;
    }

    /// <summary>CapEff of this process, from /proc/self/status.</summary>
    private static ulong EffectiveCapabilities() =>
        File.ReadLines("/proc/self/status").Where(line => line.StartsWith("CapEff:", StringComparison.Ordinal))
            .Select(line => Convert.ToUInt64(line["CapEff:".Length..].Trim(), 16))
            .Single();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Node proxy process {Pid} started, without capabilities")]
        public static partial void Unprivileged(ILogger logger, int pid);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Node proxy process {Pid} holds capabilities {Capabilities:x}: `mesh run` starts it with none; started by hand, it keeps the caller's")]
        public static partial void HoldsCapabilities(ILogger logger, int pid, ulong capabilities);
    }
}
