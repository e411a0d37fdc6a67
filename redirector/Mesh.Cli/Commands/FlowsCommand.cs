using System.CommandLine;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using Mesh.Agent;
using Mesh.Agent.Admin;
using Mesh.Agent.Flows;

namespace Mesh.Cli.Commands;

/// <summary>
/// `mesh flows`: what the kernel spliced, diverted, denied and dropped, as the running agent saw it
/// (like `hubble observe`). The agent is the ring buffer's one reader; this asks the agent.
/// </summary>
internal static class FlowsCommand
{
    public static Command Create()
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new flows until interrupted" };
        var service = new Option<string?>("--service") { Description = "only flows to this service (its name in the config)" };
        var verdict = new Option<string?>("--verdict") { Description = $"only flows with this verdict: {string.Join(", ", FlowRecord.Verdicts)}" };
        var output = new Option<string>("--output", "-o") { Description = "text or json (one JSON object per line)", DefaultValueFactory = _ => "text" };
        var pinDirectory = CommonOptions.PinDirectory();
        var command = new Command("flows", "Show recent flows the kernel spliced, diverted, denied and dropped.") { follow, service, verdict, output, pinDirectory };
        command.SetAction((result, cancellation) => ShowAsync(
            result.GetValue(follow), result.GetValue(service), result.GetValue(verdict), result.GetValue(output)!, result.GetValue(pinDirectory)!, cancellation));
        return command;
    }

    private static async Task<int> ShowAsync(bool follow, string? service, string? verdict, string output, string pinDirectory, CancellationToken cancellation)
    {
        if (verdict is not null && !FlowRecord.Verdicts.Contains(verdict))
        {
            return CliError.Report($"--verdict '{verdict}' is not one of {string.Join(", ", FlowRecord.Verdicts)}");
        }
        if (output is not ("text" or "json"))
        {
            return CliError.Report($"--output '{output}' is not one of text, json");
        }
        var query = $"v1/flows?follow={(follow ? "true" : "false")}"
            + (service is null ? "" : $"&service={Uri.EscapeDataString(service)}")
            + (verdict is null ? "" : $"&verdict={verdict}");
        using var client = AdminClient.For(pinDirectory);
        try
        {
            using var response = await client.GetAsync(query, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if (!response.IsSuccessStatusCode)
            {
                return CliError.Report(await response.Content.ReadAsStringAsync(cancellation));
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
            while (await reader.ReadLineAsync(cancellation) is { } line)
            {
                Console.WriteLine(output == "json" ? line : Format(JsonSerializer.Deserialize<FlowRecord>(line)!));
            }
            if (output == "text")
            {
                await PrintDirectionSummaryAsync(client, cancellation);
            }
            return 0;
        }
        catch (HttpRequestException error)
        {
            return CliError.Report(AdminClient.Explain(error, pinDirectory));
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return 0; // Ctrl-C ends --follow
        }
    }

    /// <summary>How many connections' send directions the splice carried, as `mesh status` counts them.</summary>
    private static async Task PrintDirectionSummaryAsync(HttpClient client, CancellationToken cancellation)
    {
        using var response = await client.GetAsync("v1/status", cancellation);
        if (response.IsSuccessStatusCode && await response.Content.ReadFromJsonAsync<StatusSnapshot>(StatusSnapshot.Json, cancellation) is { } status)
        {
            Console.WriteLine(StatusReport.DirectionSummary(status.Splice));
        }
    }

    /// <summary>One line per flow: time, verdict, protocol, source -> destination, then the service or rule it concerned.</summary>
    private static string Format(FlowRecord flow)
    {
        var concerning = (flow.Service, flow.Rule) switch
        {
            (null, null) => "",
            ({ } service, null) => $"  service {service}",
            (null, { } rule) => $"  rule {rule}",
            ({ } service, { } rule) => $"  service {service}, rule {rule}",
        };
        return $"{flow.Time.ToLocalTime():HH:mm:ss.fff}  {flow.Verdict.ToUpperInvariant(),-8}  {flow.Protocol,-4}  {flow.Source} -> {flow.Destination}{concerning}";
    }
}
