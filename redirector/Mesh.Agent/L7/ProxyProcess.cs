using System.Diagnostics;
using System.Text.Json;
using Mesh.Agent.Hardening;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.L7;

/// <summary>
/// The node proxy's process (`mesh proxy`): the agent starts it without capabilities, gives it its services over its
/// standard input (<see cref="ProxyInstruction"/>, one per line, each acknowledged on its standard output), and starts
/// it again, with the latest services, whenever it exits unasked — as Cilium's agent restarts its Envoy. Its log goes
/// to the agent's stderr. Closing its input drains it; an agent that dies closes it too, so the proxy never outlives
/// the agent by more than its drain.
/// </summary>
internal sealed partial class ProxyProcess : IAsyncDisposable
{
    /// <summary>How long an answer may take: a start compiles the whole pipeline first (about a second; more on a loaded node).</summary>
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FirstRestartDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(10);

    /// <summary>A proxy that served this long before exiting is restarted after the first delay again.</summary>
    private static readonly TimeSpan StableUptime = TimeSpan.FromSeconds(30);

    /// <summary>Past the drain, how long an exiting proxy gets before it is killed.</summary>
    private static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(5);

    private readonly ProxyStartSettings _start;
    private readonly string? _user;
    private readonly bool _verbose;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _exchange = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    // The services the proxy has, or takes when it is started again (Generation and Start are set when sent).
    private ProxyInstruction _services = new() { Generation = 0, Services = [] };
    private Running? _running;
    private Task? _supervision;
    private long _generation;
    private int _restarts;
    private int _disposed;

    /// <param name="start">How the proxy listens, given to each process it starts.</param>
    /// <param name="user">The user a root agent starts it as; an unprivileged agent starts it as itself.</param>
    /// <param name="verbose">Passes --verbose on.</param>
    /// <param name="logger">The agent's log of the process's starts and exits.</param>
    public ProxyProcess(ProxyStartSettings start, string? user, bool verbose, ILogger logger)
    {
        _start = start;
        _user = user;
        _verbose = verbose;
        _logger = logger;
    }

    /// <summary>The running proxy's process id, or null while it is down.</summary>
    public int? Pid => _running?.Pid;

    /// <summary>How many times the proxy was started again after exiting unasked.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>Starts the proxy and returns once it listens; throws <see cref="ProxyStartException"/> with its reason when it cannot.</summary>
    /// <param name="services">Every service of the config.</param>
    /// <param name="sourceCgroupIds">The kernel's id of each source cgroup, by path.</param>
    /// <param name="cancellationToken">Stops waiting for the proxy.</param>
    public async Task StartAsync(ValueList<ServiceConfig> services, IReadOnlyDictionary<string, ulong> sourceCgroupIds, CancellationToken cancellationToken)
    {
        await _exchange.WaitAsync(cancellationToken);
        try
        {
            _services = new ProxyInstruction { Generation = 0, Services = services, SourceCgroupIds = sourceCgroupIds };
            _running = await LaunchAsync(cancellationToken);
        }
        finally
        {
            _exchange.Release();
        }
        _supervision = Task.Run(() => SuperviseAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Replaces the proxy's services: null once it applied them, or the reason it refused them (it keeps the previous).
    /// A proxy that is down, or dies meanwhile, takes them when it is started again.
    /// </summary>
    public async Task<string?> ApplyAsync(ValueList<ServiceConfig> services, IReadOnlyDictionary<string, ulong> sourceCgroupIds, CancellationToken cancellationToken)
    {
        var update = new ProxyInstruction { Generation = 0, Services = services, SourceCgroupIds = sourceCgroupIds };
        await _exchange.WaitAsync(cancellationToken);
        try
        {
            if (_running is not { } running)
            {
                _services = update;
                return null;
            }
            try
            {
                var refusal = await ExchangeAsync(running, update with { Generation = ++_generation }, cancellationToken);
                if (refusal is null)
                {
                    _services = update;
                }
                return refusal;
            }
            catch (ProxyStartException error)
            {
                // Gone or hung: the supervision starts it again, with these services.
                Log.Unresponsive(_logger, running.Process.Id, error.Message);
                Kill(running.Process);
                _services = update;
                return null;
            }
        }
        finally
        {
            _exchange.Release();
        }
    }

    /// <summary>Drains: closes the proxy's input, so it stops accepting and finishes its requests, and waits (at most the drain and a grace) for it to exit.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_supervision is not null)
        {
            await _supervision;
        }
        await _exchange.WaitAsync(cancellationToken);
        Running? running;
        try
        {
            running = _running;
            _running = null;
        }
        finally
        {
            _exchange.Release();
        }
        if (running is null)
        {
            return;
        }
        try
        {
            running.Process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Exited already.
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_start.ShutdownTimeout + ExitGrace);
        try
        {
            await running.Process.WaitForExitAsync(deadline.Token);
            Log.Stopped(_logger, running.Process.Id);
        }
        catch (OperationCanceledException)
        {
            Log.KilledAfterDrain(_logger, running.Process.Id);
            Kill(running.Process);
        }
        running.Process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync();
        if (_supervision is not null)
        {
            await _supervision;
        }
        if (_running is { } running)
        {
            Kill(running.Process);
            running.Process.Dispose();
            _running = null;
        }
        _stopping.Dispose();
        _exchange.Dispose();
    }

    /// <summary>
    /// Waits for the proxy to exit and starts it again, until the agent stops. A proxy that keeps exiting soon after
    /// its start waits twice as long each time (up to <see cref="MaxRestartDelay"/>), so a crash loop does not spin.
    /// </summary>
    private async Task SuperviseAsync(CancellationToken stopping)
    {
        var delay = FirstRestartDelay;
        try
        {
            while (_running is { } running)
            {
                await running.Process.WaitForExitAsync(stopping);
                var uptime = DateTime.UtcNow - running.StartedAt;
                Log.Exited(_logger, running.Process.Id, running.Process.ExitCode, uptime.TotalSeconds);
                if (uptime > StableUptime)
                {
                    delay = FirstRestartDelay;
                }
                await _exchange.WaitAsync(stopping);
                try
                {
                    _running = null;
                    running.Process.Dispose();
                }
                finally
                {
                    _exchange.Release();
                }
                delay = await RestartAsync(delay, stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Starts the proxy again after <paramref name="delay"/>, retrying until it listens; returns the delay before the next restart.</summary>
    private async Task<TimeSpan> RestartAsync(TimeSpan delay, CancellationToken stopping)
    {
        while (true)
        {
            await Task.Delay(delay, stopping);
            delay = delay * 2 < MaxRestartDelay ? delay * 2 : MaxRestartDelay;
            await _exchange.WaitAsync(stopping);
            try
            {
                // Under the lock: services applied meanwhile are either in this start or sent to this process.
                _running = await LaunchAsync(stopping);
                Interlocked.Increment(ref _restarts);
                return delay;
            }
            catch (ProxyStartException error)
            {
                Log.RestartFailed(_logger, error.Message, delay.TotalSeconds);
            }
            finally
            {
                _exchange.Release();
            }
        }
    }

    /// <summary>Starts a proxy process with the current services; returns once it listens.</summary>
    private async Task<Running> LaunchAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("this program's path is unknown"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // `dotnet mesh.dll` runs the proxy as `dotnet mesh.dll proxy`; the apphost as `mesh proxy`.
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ProxyProcess).Assembly.Location);
        }
        start.ArgumentList.Add("proxy");
        if (_verbose)
        {
            start.ArgumentList.Add("--verbose");
        }

        Process process;
        try
        {
            process = LeastPrivilege.StartWithoutCapabilities(start, _user);
        }
        catch (InvalidOperationException error)
        {
            throw new ProxyStartException(error.Message);
        }
        var running = new Running(process, process.Id, DateTime.UtcNow);
        try
        {
            var instruction = _services with { Generation = ++_generation, Start = _start };
            if (await ExchangeAsync(running, instruction, cancellationToken) is { } refusal)
            {
                throw new ProxyStartException($"the node proxy did not start: {refusal}");
            }
            Log.Started(_logger, process.Id, string.Join(", ", _start.Listen.AsEnumerable()), _services.Services.Count);
            return running;
        }
        catch
        {
            Kill(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Sends one instruction and reads its answer: null when applied, else the proxy's refusal.</summary>
    private static async Task<string?> ExchangeAsync(Running running, ProxyInstruction instruction, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(AnswerTimeout);
        string? line;
        try
        {
            await running.Process.StandardInput.WriteLineAsync(ProxyWireFormat.Write(instruction).AsMemory(), timeout.Token);
            await running.Process.StandardInput.FlushAsync(timeout.Token);
            line = await running.Process.StandardOutput.ReadLineAsync(timeout.Token);
        }
        catch (IOException error)
        {
            throw new ProxyStartException($"the node proxy (process {running.Process.Id}) exited: {error.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ProxyStartException($"the node proxy (process {running.Process.Id}) did not answer within {AnswerTimeout.TotalSeconds:F0} s");
        }
        if (line is null)
        {
            throw new ProxyStartException($"the node proxy (process {running.Process.Id}) exited before answering (its log above says why)");
        }
        ProxyAcknowledgement answer;
        try
        {
            answer = ProxyWireFormat.Read<ProxyAcknowledgement>(line);
        }
        catch (JsonException error)
        {
            throw new ProxyStartException($"the node proxy answered something else than an acknowledgement: {error.Message}");
        }
        return answer.Generation == instruction.Generation
            ? answer.Error
            : throw new ProxyStartException($"the node proxy answered instruction {answer.Generation} instead of {instruction.Generation}");
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Exited already.
        }
    }

    /// <summary>A started proxy. Its pid is kept apart: status reads it while the supervision may dispose the process.</summary>
    private sealed record Running(Process Process, int Pid, DateTime StartedAt);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Node proxy process {Pid} listening on {Listen}, with routes for {Count} service(s)")]
        public static partial void Started(ILogger logger, int pid, string listen, int count);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Node proxy process {Pid} exited with code {ExitCode} after {Uptime:F1} s; starting it again")]
        public static partial void Exited(ILogger logger, int pid, int exitCode, double uptime);

        [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "Starting the node proxy again failed ({Reason}); next try in {Delay:F1} s")]
        public static partial void RestartFailed(ILogger logger, string reason, double delay);

        [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Node proxy process {Pid} did not take its services ({Reason}); killed, it starts again with them")]
        public static partial void Unresponsive(ILogger logger, int pid, string reason);

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Node proxy process {Pid} drained and exited")]
        public static partial void Stopped(ILogger logger, int pid);

        [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Node proxy process {Pid} did not exit after its drain; killed")]
        public static partial void KilledAfterDrain(ILogger logger, int pid);
    }
}

/// <summary>The node proxy's process could not be started, or stopped answering; the message says why.</summary>
internal sealed class ProxyStartException(string message) : Exception(message);
