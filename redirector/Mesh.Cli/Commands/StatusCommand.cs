using System.CommandLine;
using System.Net.Http.Json;
using Mesh.Agent;
using Mesh.Agent.Admin;

namespace Mesh.Cli.Commands;

/// <summary>`mesh status`: what the running agent attached where, and the live kernel counters, asked over its admin socket.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var pinDirectory = CommonOptions.PinDirectory();
        var command = new Command("status", "Show what is attached where and the live kernel counters.") { pinDirectory };
        command.SetAction((result, cancellation) => ShowAsync(result.GetValue(pinDirectory)!, cancellation));
        return command;
    }

    private static async Task<int> ShowAsync(string pinDirectory, CancellationToken cancellation)
    {
        if (AgentState.ReadRunning(pinDirectory) is null)
        {
            return CliError.Report($"no Mesh agent is running with pin directory {pinDirectory} (start one with 'mesh run')");
        }
        using var client = AdminClient.For(pinDirectory);
        try
        {
            using var response = await client.GetAsync("v1/status", cancellation);
            if (!response.IsSuccessStatusCode)
            {
                return CliError.Report(await response.Content.ReadAsStringAsync(cancellation));
            }
            var status = await response.Content.ReadFromJsonAsync<StatusSnapshot>(StatusSnapshot.Json, cancellation);
            Console.Write(StatusReport.Render(status!));
            return 0;
        }
        catch (HttpRequestException error)
        {
            return CliError.Report($"the Mesh agent with pin directory {pinDirectory} does not answer: {AdminClient.Explain(error, pinDirectory)}");
        }
    }
}
