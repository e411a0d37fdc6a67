using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>What one finished `mesh` invocation (or any other command) printed and returned.</summary>
public sealed record CliResult(string Command, int ExitCode, string StdOut, string StdErr)
{
    /// <summary>The non-empty lines of stderr: an error must be exactly one of them.</summary>
    public IReadOnlyList<string> ErrorLines =>
        StdErr.Split('\n').Select(line => line.TrimEnd('\r')).Where(line => line.Trim().Length > 0).ToList();

    public override string ToString() =>
        $"$ {Command}{Environment.NewLine}exit {ExitCode}{Environment.NewLine}--- stdout ---{Environment.NewLine}{StdOut}--- stderr ---{Environment.NewLine}{StdErr}";
}

/// <summary>Runs the `mesh` executable the test project copied next to the tests, and other commands, each with a time limit.</summary>
public static class MeshCli
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The command line that starts mesh: the apphost when the build made one, else `dotnet mesh.dll`.</summary>
    public static (string FileName, IReadOnlyList<string> Prefix) Executable()
    {
        var directory = AppContext.BaseDirectory;
        var apphost = Path.Combine(directory, "mesh");
        if (File.Exists(apphost))
        {
            return (apphost, []);
        }
        var dll = Path.Combine(directory, "mesh.dll");
        Assert.True(File.Exists(dll), $"neither {apphost} nor {dll} exists: the test project must reference Mesh.Cli");
        return ("dotnet", [dll]);
    }

    public static Task<CliResult> RunAsync(params string[] arguments) => RunAsync(arguments, wrapper: null, DefaultTimeout);

    /// <summary>Runs mesh to completion; <paramref name="wrapper"/> (e.g. setpriv ...) goes in front of it.</summary>
    public static Task<CliResult> RunAsync(IReadOnlyList<string> arguments, IReadOnlyList<string>? wrapper, TimeSpan timeout)
    {
        var (fileName, prefix) = Executable();
        var line = (wrapper ?? []).Append(fileName).Concat(prefix).Concat(arguments).ToList();
        return ExecAsync(line[0], line.Skip(1).ToList(), timeout);
    }

    /// <summary>Runs any command to completion within <paramref name="timeout"/>; on timeout kills it and fails the test.</summary>
    public static async Task<CliResult> ExecAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        using var process = new Process { StartInfo = StartInfo(fileName, arguments) };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n'); };
        var command = Describe(fileName, arguments);
        try
        {
            process.Start();
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException($"cannot start {command}: {error.Message}", error);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Fail($"{command} did not finish within {timeout.TotalSeconds:N0} s; killed it. stderr so far:{Environment.NewLine}{stderr}");
        }
        // The parameterless wait flushes the asynchronous output readers.
        process.WaitForExit();
        return new CliResult(command, process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    internal static ProcessStartInfo StartInfo(string fileName, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        // Plain, uncoloured output whatever the environment of the test run says.
        info.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        info.Environment["NO_COLOR"] = "1";
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        return info;
    }

    internal static string Describe(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', arguments.Prepend(fileName).Select(a => a.Contains(' ') ? $"'{a}'" : a));
}

/// <summary>A `mesh run` agent started in the background; disposing kills it if it still runs.</summary>
public sealed class AgentProcess : IDisposable
{
    public const int SigInt = 2;
    public const int SigTerm = 15;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AgentProcess(Process process, string command)
    {
        _process = process;
        Command = command;
    }

    public string Command { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the agent printed so far, stdout and stderr interleaved, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts `mesh run` with <paramref name="arguments"/> and waits until it is attached, which is when
    /// its state file <paramref name="stateFile"/> names its pid. Fails with the agent's output if it exits first.
    /// </summary>
    public static async Task<AgentProcess> StartAsync(IReadOnlyList<string> arguments, string stateFile)
    {
        var (fileName, prefix) = MeshCli.Executable();
        var all = prefix.Append("run").Concat(arguments).ToList();
        // A test run started in the background inherits SIGINT ignored, and so would the agent (.NET keeps an
        // ignored signal ignored, as nohup expects): env gives the agent the default handling the tests signal it with.
        var process = new Process { StartInfo = MeshCli.StartInfo("env", ["--default-signal=INT", fileName, .. all]) };
        var agent = new AgentProcess(process, MeshCli.Describe(fileName, all));
        process.OutputDataReceived += (_, e) => agent.Append("out", e.Data);
        process.ErrorDataReceived += (_, e) => agent.Append("err", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await agent.WaitUntilAttachedAsync(stateFile);
            return agent;
        }
        catch
        {
            agent.Dispose();
            throw;
        }
    }

    /// <summary>kill -9: the agent gets no chance to clean up, as after a crash or an OOM kill.</summary>
    public async Task KillHardAsync()
    {
        _process.Kill(entireProcessTree: false); // SIGKILL on Linux
        await WaitForExitAsync();
    }

    /// <summary>Sends <paramref name="signal"/> and waits (bounded) for the agent to exit; returns its exit code.</summary>
    public async Task<int> StopAsync(int signal = SigTerm)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        await WaitForExitAsync();
        return _process.ExitCode;
    }

    /// <summary>The pid of the node proxy process this agent started (`mesh proxy`), or null while there is none.</summary>
    public int? NodeProxyPid()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }
            try
            {
                var parent = File.ReadLines(Path.Combine(directory, "status")).FirstOrDefault(line => line.StartsWith("PPid:", StringComparison.Ordinal));
                if (parent?.Split('\t')[1] == Pid.ToString() && File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0').Contains("proxy"))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
                // Exited while listed.
            }
        }
        return null;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped: nothing to stop.
        }
        _process.Dispose();
    }

    private async Task WaitForExitAsync()
    {
        using var deadline = new CancellationTokenSource(StopTimeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the agent (pid {Pid}) did not exit within {StopTimeout.TotalSeconds:N0} s. Output:{Environment.NewLine}{Output}");
        }
        _process.WaitForExit();
    }

    private async Task WaitUntilAttachedAsync(string stateFile)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < StartTimeout)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                Assert.Fail($"the agent exited with {_process.ExitCode} before it attached.{Environment.NewLine}$ {Command}{Environment.NewLine}{Output}");
            }
            if (AgentStateFile.PidIn(stateFile) == _process.Id)
            {
                return;
            }
            await Task.Delay(100);
        }
        Assert.Fail($"the agent did not write {stateFile} with its pid {_process.Id} within {StartTimeout.TotalSeconds:N0} s.{Environment.NewLine}$ {Command}{Environment.NewLine}{Output}");
    }

    private void Append(string stream, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.Append(stream).Append(": ").Append(line).Append('\n');
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

/// <summary>Reads the agent's state file /run/mesh/&lt;pin-dir-name&gt;.json without depending on the CLI's types.</summary>
public static class AgentStateFile
{
    public const string Directory = "/run/mesh";

    public static string PathFor(string pinDirectory) =>
        Path.Combine(Directory, Path.GetFileName(Path.TrimEndingDirectorySeparator(pinDirectory)) + ".json");

    /// <summary>The pid written in the file, or null while it is missing, partial or unreadable.</summary>
    public static int? PidIn(string stateFile)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(stateFile));
            return document.RootElement.TryGetProperty("Pid", out var pid) ? pid.GetInt32() : null;
        }
        catch (Exception error) when (error is IOException or System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
