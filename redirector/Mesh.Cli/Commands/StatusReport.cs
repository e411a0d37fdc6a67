using System.Text;
using Mesh.Agent.Admin;
using Mesh.Agent.L4;
using Mesh.Agent.Services;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;

namespace Mesh.Cli.Commands;

/// <summary>Renders `mesh status` as aligned tables.</summary>
internal static class StatusReport
{
    /// <summary>One line on the connections' send directions: spliced (some after TCP) and kept on TCP.</summary>
    public static string DirectionSummary(SpliceCounterSnapshot counters) =>
        $"send directions: {counters.DirectionsSpliced:N0} spliced ({counters.DirectionsSwitched:N0} after starting on TCP), "
        + $"{counters.DirectionsKeptOnTcp:N0} kept on TCP: {counters.SplicedDirectionShare:P1} spliced";

    public static string Render(StatusSnapshot status)
    {
        var (state, counters, splicedSockets, divert, l4, flowEvents, memory, services, translation, workloads) = status;
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
                [$"{DivertDatapath.SendMsg4Program}/6, {DivertDatapath.RecvMsg4Program}/6", "cgroup/sendmsg4, sendmsg6, recvmsg4, recvmsg6", $"cgroup {state.Cgroup}"],
            ],
            .. l4 is null ? Array.Empty<string[]>() :
            [
                ["local_connect4/6, local_sendmsg4/6", "cgroup/connect4, connect6, sendmsg4, sendmsg6", $"cgroup {state.Cgroup}"],
                [L4Datapath.SweepProgram, "iter/tcp", "run after each L4 rule change"],
                .. l4.State.Interfaces.Select(xdp => new[] { L4Datapath.XdpProgram, $"xdp ({xdp.Mode})", $"interface {xdp.Name}" }),
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
            ["send directions spliced", counters.DirectionsSpliced.ToString("N0")],
            ["  of them switched from TCP", counters.DirectionsSwitched.ToString("N0")],
            ["send directions kept on TCP", counters.DirectionsKeptOnTcp.ToString("N0")],
            ["messages waiting for the reader to drain TCP", counters.MessagesAwaitingReader.ToString("N0")],
            ["messages held back for a full reader", counters.MessagesHeldForReader.ToString("N0")],
        ]);
        text.AppendLine(DirectionSummary(counters));
        if (services is { Count: > 0 })
        {
            AppendServices(text, services, translation);
        }
        if (divert is not null)
        {
            text.AppendLine();
            AppendTable(text, ["L7 DIVERSION", "VALUE"],
            [
                ["node proxy process", divert.ProxyPid is { } pid ? $"pid {pid}, unprivileged" : "down, starting again"],
                ["node proxy restarts", divert.ProxyRestarts.ToString("N0")],
                ["services with HTTP policy", divert.Services.ToString("N0")],
                ["connections diverted", divert.Counters.Connections.ToString("N0")],
                ["original destinations answered", divert.Counters.OriginalDstAnswered.ToString("N0")],
                ["proxy upstream connections exempt", divert.Counters.ProxyConnectionsSkipped.ToString("N0")],
                ["proxy down or namespace not served: connected direct (fail open)", divert.Counters.FailedOpen.ToString("N0")],
                ["proxy down or namespace not served: refused (fail closed)", divert.Counters.FailedClosed.ToString("N0")],
            ]);
        }
        if (workloads is { Count: > 0 })
        {
            text.AppendLine();
            AppendTable(text, ["WORKLOAD", "CGROUP", "NETNS COOKIE", "ADDRESSES", "PROXY LISTENERS", "LABELS"],
                [.. workloads.Select(w => new[] { w.Name ?? "-", w.Cgroup, w.NetnsCookie.ToString(), OrDash(w.Addresses), w.Listeners.ToString(), OrDash(w.Labels) })]);
        }
        if (l4 is not null)
        {
            AppendL4(text, l4);
        }
        if (flowEvents is { } events)
        {
            text.AppendLine();
            text.AppendLine($"flow events: {events.Sent:N0} sent to the agent, {events.Lost:N0} lost to a full ring buffer (see 'mesh flows')");
        }
        if (memory is not null)
        {
            text.AppendLine();
            text.AppendLine(memory.Gen0 == 0
                ? $"agent memory: RSS {Mib(memory.ResidentBytes)} MiB; .NET heap: no GC yet"
                : $"agent memory: RSS {Mib(memory.ResidentBytes)} MiB; .NET heap {Mib(memory.HeapBytes)} MiB at the last GC, "
                  + $"{Mib(memory.FragmentedBytes)} MiB of it free fragments, {Mib(memory.CommittedBytes)} MiB committed; "
                  + $"GCs gen0 {memory.Gen0:N0}, gen1 {memory.Gen1:N0}, gen2 {memory.Gen2:N0}");
        }
        return text.ToString();
    }

    private static string OrDash(IReadOnlyList<string> values) => values.Count == 0 ? "-" : string.Join(", ", values);

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Each translated service's endpoints, one row each, with the health the kernel's choice follows.</summary>
    private static void AppendServices(StringBuilder text, IReadOnlyList<ServiceStatus> services, LbCounterSnapshot? counters)
    {
        text.AppendLine();
        AppendTable(text, ["SERVICE", "ADDRESS", "PROTOCOL", "ENDPOINT", "WEIGHT", "HEALTH"],
        [
            .. services.SelectMany(service => service.Endpoints.Count == 0
                ? [[service.Name, service.Address, service.Protocol, "-", "-", "-"]]
                : service.Endpoints.Select(endpoint => new[]
                {
                    service.Name, service.Address, service.Protocol, endpoint.EndPoint, endpoint.Weight.ToString(), endpoint.Healthy ? "healthy" : "unhealthy",
                })),
        ]);
        if (counters is not null)
        {
            text.AppendLine($"service translation: {counters.Translated:N0} connect/sendmsg call(s) sent to an endpoint, {counters.Refused:N0} refused "
                + $"(no healthy endpoint), {counters.RepliesRewritten:N0} UDP repl(ies) named the service");
        }
    }

    private static void AppendL4(StringBuilder text, L4Status l4)
    {
        string[] Row(string name, string rule, L4RuleStats stats) =>
            [name, rule, stats.XdpPackets.ToString("N0"), stats.XdpBytes.ToString("N0"), stats.SocketCalls.ToString("N0"), stats.SocketsDestroyed.ToString("N0")];
        text.AppendLine();
        AppendTable(text, ["L4 RULE", "MATCHES", "XDP PACKETS", "XDP BYTES", "SOCKET CALLS", "CONNECTIONS CUT"],
        [
            .. l4.State.Rules.Select((rule, index) => Row(rule.Name, rule.Summary, l4.RuleStats[index])),
            Row("(default)", $"{l4.State.Default} what no rule matches", l4.DefaultStats),
        ]);
        text.AppendLine($"XDP: {l4.Malformed:N0} malformed frame(s) dropped, {l4.Fragments:N0} non-first fragment(s) judged by address");
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


