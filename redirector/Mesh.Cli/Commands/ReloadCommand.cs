using System.CommandLine;

namespace Mesh.Cli.Commands;

/// <summary>`mesh reload`: makes the running agent re-read its config file now, and says whether it took it.</summary>
internal static class ReloadCommand
{
    public static Command Create()
    {
        var pinDirectory = CommonOptions.PinDirectory();
        var command = new Command("reload", "Make the running agent re-read its config file now (it also does on every edit).") { pinDirectory };
        command.SetAction((result, cancellation) => ReloadAsync(result.GetValue(pinDirectory)!, cancellation));
        return command;
    }

    private static async Task<int> ReloadAsync(string pinDirectory, CancellationToken cancellation)
    {
        using var client = AdminClient.For(pinDirectory);
        try
        {
            using var response = await client.PostAsync("v1/reload", content: null, cancellation);
            var text = await response.Content.ReadAsStringAsync(cancellation);
            if (response.IsSuccessStatusCode)
            {
                Console.WriteLine(text);
                return 0;
            }
            // Each config error on its own line (file:line:column: message); the agent keeps its running config.
            Console.Error.WriteLine(text);
            return CliError.ExitCode;
        }
        catch (HttpRequestException error)
        {
            return CliError.Report(AdminClient.Explain(error, pinDirectory));
        }
    }
}
