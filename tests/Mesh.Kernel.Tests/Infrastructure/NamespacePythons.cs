using System.Diagnostics;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// python3 processes a test starts inside a network namespace with `ip netns exec` (or, with no
/// namespace named, in the test's own); they stay in the test process's cgroup (`ip netns exec`
/// changes the network namespace only). Disposing ends them.
/// </summary>
public sealed class NamespacePythons(string? netns) : IDisposable
{
    private readonly List<Process> _processes = [];

    /// <summary>Starts <paramref name="script"/>; it ends when this object is disposed, if not before.</summary>
    public Process Start(string script, params string[] arguments)
    {
        var process = Process.Start(StartInfo(script, arguments))!;
        _processes.Add(process);
        return process;
    }

    /// <summary>Runs <paramref name="script"/> to its end and returns what it printed.</summary>
    public string Run(string script, params string[] arguments)
    {
        using var process = Process.Start(StartInfo(script, arguments))!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"python3 in {netns ?? "the test's namespace"} failed: {error.Trim()}");
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already disposed by the test: nothing left to end.
            }
            process.Dispose();
        }
    }

    private ProcessStartInfo StartInfo(string script, string[] arguments)
    {
        string[] inNamespace = netns is null ? [] : ["ip", "netns", "exec", netns];
        string[] command = [.. inNamespace, "python3", "-u", "-c", script, .. arguments];
        var start = new ProcessStartInfo(command[0]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }
}
