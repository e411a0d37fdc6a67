using System.Text;
using Mesh.Cli.Agent;
using Mesh.Redirector.Maps;
using Mesh.Redirector.Programs;

namespace Mesh.Cli.Commands;

/// <summary>Renders `mesh status` as aligned tables.</summary>
internal static class StatusReport
{
    public static string Render(AgentState state, SpliceCounterSnapshot counters, int splicedSockets, DivertStatus? divert = null)
    {
        var text = new StringBuilder();
        text.AppendLine($"Mesh agent pid {state.Pid}, up since {state.StartedAt:u}, config {state.Config}");
        text.AppendLine($"splice: {(state.SpliceEnabled ? "on" : "off")}");
        text.AppendLine();
        AppendTable(text, ["PROGRAM", "TYPE", "ATTACHED TO"],
        [
            [SpliceDatapath.SockOpsProgram, "sock_ops", $"cgroup {state.Cgroup}"],
            [SpliceDatapath.RedirectProgram, "sk_msg", $"sockhash {Path.Combine(state.PinDirectory, MapNames.SpliceSockets)}"],
            .. divert is null ? Array.Empty<string[]>() :
            [
                [$"{DivertDatapath.Connect4Program}/6", "cgroup/connect4, connect6", $"cgroup {state.Cgroup}"],
                [DivertDatapath.EstablishedProgram, "sock_ops", $"cgroup {state.Cgroup}"],
                [DivertDatapath.OriginalDstProgram, "cgroup/getsockopt", $"cgroup {state.Cgroup}"],
                [$"{DivertDatapath.GetPeerName4Program}/6", "cgroup/getpeername4, getpeername6", $"cgroup {state.Cgroup}"],
            ],
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
        if (divert is not null)
        {
            text.AppendLine();
            AppendTable(text, ["L7 DIVERSION", "VALUE"],
            [
                ["services with HTTP policy", divert.Services.ToString("N0")],
                ["connections diverted", divert.Counters.Connections.ToString("N0")],
                ["original destinations answered", divert.Counters.OriginalDstAnswered.ToString("N0")],
                ["proxy upstream connections exempt", divert.Counters.ProxyConnectionsSkipped.ToString("N0")],
            ]);
        }
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

/// <summary>What `mesh status` shows of the L7 diversion.</summary>
internal sealed record DivertStatus(int Services, DivertCounterSnapshot Counters);
