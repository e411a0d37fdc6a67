using System.Text.Json;
using Mesh.Proxy.Management;
using Mesh.Proxy.Routing;
using Microsoft.Extensions.Logging;

namespace Mesh.Proxy.Isolation;

/// <summary>
/// The node proxy as a process of its own, driven by the agent over a pipe: reads one <see cref="ProxyInstruction"/>
/// per line, starts a <see cref="MeshProxyHost"/> on the first, replaces its services on each later one, and answers
/// each with a <see cref="ProxyAcknowledgement"/> line. The end of the input (the agent closed it, or died) or the stop
/// token drains the proxy: it stops accepting, finishes the requests in flight for at most the shutdown timeout, and
/// the run ends.
/// </summary>
public sealed partial class ProxyInstructionServer
{
    private readonly TextReader _input;
    private readonly TextWriter _output;
    private readonly IOriginalDestinationResolver _resolver;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;

    /// <param name="input">Where the instructions come from (the process's standard input).</param>
    /// <param name="output">Where the acknowledgements go (the process's standard output: logs go elsewhere).</param>
    /// <param name="resolver">How the proxy learns each connection's original destination.</param>
    /// <param name="loggerFactory">The process's logging.</param>
    public ProxyInstructionServer(TextReader input, TextWriter output, IOriginalDestinationResolver resolver, ILoggerFactory loggerFactory)
    {
        _input = input;
        _output = output;
        _resolver = resolver;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ProxyInstructionServer>();
    }

    /// <summary>Serves until the input ends or <paramref name="stopping"/> fires; false when the proxy could not start.</summary>
    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        MeshProxyHost? host = null;
        WorkloadListenerReceiver? receiver = null;
        try
        {
            while (await ReadLineAsync(stopping) is { } line)
            {
                ProxyInstruction instruction;
                try
                {
                    instruction = ProxyWireFormat.Read<ProxyInstruction>(line);
                }
                catch (JsonException error)
                {
                    await AcknowledgeAsync(new ProxyAcknowledgement(0, $"not an instruction: {error.Message}"));
                    continue;
                }

                if (host is null)
                {
                    host = await StartAsync(instruction, stopping);
                    if (host is null)
                    {
                        return false;
                    }
                    if (instruction.Start?.ListenerHandoff is { } handoff)
                    {
                        receiver = WorkloadListenerReceiver.Start(handoff, host, _loggerFactory.CreateLogger<WorkloadListenerReceiver>());
                    }
                }
                else
                {
                    await AcknowledgeAsync(Update(host, instruction));
                }
            }
            return true;
        }
        finally
        {
            receiver?.Dispose();
            if (host is not null)
            {
                Log.Draining(_logger);
                await host.DisposeAsync();
            }
        }
    }

    /// <summary>The next line, or null at the end of the input or on stop.</summary>
    private async Task<string?> ReadLineAsync(CancellationToken stopping)
    {
        try
        {
            // WaitAsync: a read of a pipe or console does not watch the token once it has started.
            return await _input.ReadLineAsync(stopping).AsTask().WaitAsync(stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task<MeshProxyHost?> StartAsync(ProxyInstruction instruction, CancellationToken stopping)
    {
        if (instruction.Start is not { } start)
        {
            await AcknowledgeAsync(new ProxyAcknowledgement(instruction.Generation, "the first instruction must say how to start (start is missing)"));
            return null;
        }

        try
        {
            var host = await MeshProxyHost.StartAsync(new MeshProxyHostOptions
            {
                Listen = start.Listen,
                Resolver = _resolver,
                Services = instruction.Services,
                SourceCgroupIds = instruction.SourceCgroupIds,
                LoggerFactory = _loggerFactory,
                ShutdownTimeout = start.ShutdownTimeout,
                Telemetry = start.Telemetry,
                Limits = start.Limits,
            }, stopping);
            await AcknowledgeAsync(new ProxyAcknowledgement(instruction.Generation, null));
            return host;
        }
        catch (Exception error) when (error is ProxyConfigException or IOException or ArgumentException or InvalidOperationException)
        {
            // IOException: a listen address in use (Kestrel wraps the socket error), e.g. by the proxy of an agent
            // that was killed and is still draining.
            await AcknowledgeAsync(new ProxyAcknowledgement(instruction.Generation, error.Message));
            return null;
        }
    }

    private static ProxyAcknowledgement Update(MeshProxyHost host, ProxyInstruction instruction)
    {
        if (instruction.Start is not null)
        {
            return new ProxyAcknowledgement(instruction.Generation, "the proxy has started already; only services can change");
        }

        try
        {
            host.Config.Update(instruction.Services, instruction.SourceCgroupIds);
            return new ProxyAcknowledgement(instruction.Generation, null);
        }
        catch (ProxyConfigException error)
        {
            return new ProxyAcknowledgement(instruction.Generation, error.Message);
        }
    }

    private async Task AcknowledgeAsync(ProxyAcknowledgement acknowledgement)
    {
        await _output.WriteLineAsync(ProxyWireFormat.Write(acknowledgement));
        await _output.FlushAsync();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.Draining, Level = LogLevel.Information,
            Message = "The agent's instructions ended; draining the requests in flight")]
        public static partial void Draining(ILogger logger);
    }
}
