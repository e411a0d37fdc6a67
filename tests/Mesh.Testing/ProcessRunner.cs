using System.Diagnostics;

namespace Mesh.Testing;

/// <summary>Runs the machine's tools (ip, docker, kill) for test set-up, without a shell.</summary>
public static class ProcessRunner
{
    /// <summary>Runs <paramref name="file"/> and returns its standard output; throws with its standard error when it fails.</summary>
    public static async Task<string> RunAsync(string file, string arguments)
    {
        var (exitCode, output, error) = await ExecuteAsync(file, arguments).ConfigureAwait(false);
        return exitCode == 0 ? output : throw new InvalidOperationException($"{file} {arguments} failed ({exitCode}): {error.Trim()}");
    }

    /// <summary>Runs <paramref name="file"/> for clean-up: its standard output, or "" when it fails.</summary>
    public static async Task<string> TryRunAsync(string file, string arguments)
    {
        var (exitCode, output, _) = await ExecuteAsync(file, arguments).ConfigureAwait(false);
        return exitCode == 0 ? output : "";
    }

    /// <summary><see cref="RunAsync"/> for set-up that cannot await (constructors, Dispose); nothing in it waits for the caller's context.</summary>
    public static string Run(string file, string arguments) => RunAsync(file, arguments).GetAwaiter().GetResult();

    /// <summary><see cref="TryRunAsync"/> for clean-up that cannot await.</summary>
    public static string TryRun(string file, string arguments) => TryRunAsync(file, arguments).GetAwaiter().GetResult();

    private static async Task<(int ExitCode, string Output, string Error)> ExecuteAsync(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException($"{file} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }
}
