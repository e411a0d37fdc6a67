using System.Text;
using Mesh.Cli.Agent;
using Mesh.Redirector.Maps;
using Mesh.Redirector.Programs;

namespace Mesh.Cli.Commands;

/// <summary>Renders `mesh status` as aligned tables.</summary>
internal static class StatusReport
{
    public static string Render(AgentState state, SpliceCounterSnapshot counters, int splicedSockets)
    {
        var text = new StringBuilder();
        text.AppendLine($"Mesh agent pid {state.Pid}, up since {state.StartedAt:u}, config {state.Config}");
        text.AppendLine($"splice: {(state.SpliceEnabled ? "on" : "off")}");
        text.AppendLine();
        AppendTable(text, ["PROGRAM", "TYPE", "ATTACHED TO"],
        [
            [SpliceDatapath.SockOpsProgram, "sock_ops", $"cgroup {state.Cgroup}"],
            [SpliceDatapath.RedirectProgram, "sk_msg", $"sockhash {Path.Combine(state.PinDirectory, MapNames.SpliceSockets)}"],
        ]);
        text.AppendLine();
        AppendTable(text, ["COUNTER", "VALUE"],
        [
            ["sockets in sockhash", splicedSockets.ToString("N0")],
            ["sockets registered", counters.SocketsRegistered.ToString("N0")],
            ["messages redirected", counters.MessagesRedirected.ToString("N0")],
            ["bytes redirected", counters.BytesRedirected.ToString("N0")],
            ["lookups missed", counters.LookupsMissed.ToString("N0")],
            ["messages passed to TCP", counters.MessagesPassed.ToString("N0")],
            ["bytes passed to TCP", counters.BytesPassed.ToString("N0")],
        ]);
        return text.ToString();
    }

    private static void AppendTable(StringBuilder text, string[] header, string[][] rows)
    {
        var widths = header.Select((title, column) => rows.Select(row => row[column].Length).Append(title.Length).Max()).ToArray();
        void AppendRow(string[] cells) =>
            text.AppendLine(string.Join("  ", cells.Select((cell, column) => cell.PadRight(widths[column]))).TrimEnd());
        AppendRow(header);
        foreach (var row in rows)
        {
            AppendRow(row);
        }
    }
}
