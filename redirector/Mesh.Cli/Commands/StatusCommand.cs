using System.CommandLine;
using Mesh.Cli.Agent;
using Mesh.Redirector.Interop;
using Mesh.Redirector.Maps;

namespace Mesh.Cli.Commands;

/// <summary>`mesh status`: what the running agent attached where, and the live kernel counters.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var pinDirectory = CommonOptions.PinDirectory();
        var command = new Command("status", "Show what is attached where and the live splice counters.") { pinDirectory };
        command.SetAction(result => Show(result.GetValue(pinDirectory)!));
        return command;
    }

    private static int Show(string pinDirectory)
    {
        var state = AgentState.ReadRunning(pinDirectory);
        if (state is null)
        {
            return CliError.Report($"no Mesh agent is running with pin directory {pinDirectory} (start one with 'mesh run')");
        }
        try
        {
            using var counters = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.SpliceCounters));
            using var sockets = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.SpliceSockets));
            Console.Write(StatusReport.Render(state, SpliceCounterReader.Read(counters), sockets.Keys<SockKey>().Count, ReadDivert(pinDirectory), ReadL4(pinDirectory), ReadFlowCounters(pinDirectory)));
            return 0;
        }
        catch (BpfException error)
        {
            return CliError.Report(error.Message);
        }
    }

    /// <summary>The L4 policy in force with each rule's counters, or null when the agent runs without it.</summary>
    private static L4Status? ReadL4(string pinDirectory)
    {
        var state = L4State.Read(pinDirectory);
        if (state is null)
        {
            return null;
        }
        using var ruleStats = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.L4RuleStats));
        using var counters = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.L4Counters));
        L4RuleStats StatsOf(uint slot) => ruleStats.ReadPerCpu<uint, L4RuleStats>(slot).Aggregate(default(L4RuleStats), (sum, cpu) => sum + cpu);
        return new L4Status(state,
            [.. state.Rules.Select(rule => StatsOf(rule.StatsSlot))],
            StatsOf(L4Limits.DefaultStatsSlot),
            Malformed: counters.SumPerCpu((uint)L4Counter.XdpMalformed),
            Fragments: counters.SumPerCpu((uint)L4Counter.XdpFragments));
    }

    /// <summary>Flow events sent to the agent and lost to a full ring buffer, or null without the map.</summary>
    private static (ulong Sent, ulong Lost)? ReadFlowCounters(string pinDirectory)
    {
        var pin = Path.Combine(pinDirectory, MapNames.FlowCounters);
        if (!File.Exists(pin))
        {
            return null;
        }
        using var counters = BpfMap.OpenPinned(pin);
        return (counters.SumPerCpu((uint)FlowCounter.EventsSent), counters.SumPerCpu((uint)FlowCounter.EventsLost));
    }

    /// <summary>The L7 diversion's counters, or null when the agent runs without it.</summary>
    private static DivertStatus? ReadDivert(string pinDirectory)
    {
        var countersPin = Path.Combine(pinDirectory, MapNames.DivertCounters);
        if (!File.Exists(countersPin))
        {
            return null;
        }
        using var counters = BpfMap.OpenPinned(countersPin);
        using var services = BpfMap.OpenPinned(Path.Combine(pinDirectory, MapNames.L7Services));
        return new DivertStatus(services.Keys<ServiceKey>().Count, DivertCounterReader.Read(counters));
    }
}
