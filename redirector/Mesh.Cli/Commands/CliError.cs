namespace Mesh.Cli.Commands;

/// <summary>Reports a failure as one line on stderr and gives the exit code.</summary>
internal static class CliError
{
    public const int ExitCode = 1;

    public static int Report(string message)
    {
        Console.Error.WriteLine($"mesh: error: {message}");
        return ExitCode;
    }
}
