namespace Mesh.Datapath.Maps;

/// <summary>Names of the maps in bpf/include/*_maps.h, which are also their pin file names.</summary>
public static class MapNames
{
    public const string SpliceSockets = "splice_sockets";
    public const string SpliceCounters = "splice_counters";
    public const string SpliceSettings = "splice_settings";
    public const string SpliceDirections = "splice_directions";
    public const string ServedAddresses = "served_addresses";
    public const string SplicePeers = "splice_peers";

    public const string L7Services = "l7_services";
    public const string DivertSettings = "divert_settings";
    public const string DivertByCookie = "divert_by_cookie";
    public const string DivertByTuple = "divert_by_tuple";
    public const string DivertCounters = "divert_counters";
    public const string DivertHeartbeat = "divert_heartbeat";
    public const string SourceCgroups = "source_cgroups";
    public const string LbServices = "lb_services";
    public const string LbSlots = "lb_slots";
    public const string LbUdpReplies = "lb_udp_replies";
    public const string LbCounters = "lb_counters";
    public const string LbTranslated = "lb_translated";
    public const string DivertNetns = "divert_netns";

    public const string L4Sources = "l4_sources";
    public const string L4Destinations = "l4_destinations";
    public const string L4Rules = "l4_rules";
    public const string L4Generations = "l4_generations";
    public const string L4Active = "l4_active";
    public const string L4RuleStats = "l4_rule_stats";
    public const string L4Counters = "l4_counters";

    public const string FlowEvents = "flow_events";
    public const string FlowSettings = "flow_settings";
    public const string FlowCounters = "flow_counters";

    /// <summary>The maps of the kernel splice (splice_maps.h).</summary>
    public static readonly IReadOnlyList<string> Splice = [SpliceSockets, SpliceCounters, SpliceSettings, SpliceDirections, ServedAddresses, SplicePeers];

    /// <summary>The maps of the L7 diversion and the service translation (divert_maps.h, service_lb.h).</summary>
    public static readonly IReadOnlyList<string> Divert =
        [L7Services, DivertSettings, DivertByCookie, DivertByTuple, DivertCounters, DivertHeartbeat, SourceCgroups, DivertNetns, LbServices, LbSlots, LbUdpReplies, LbCounters, LbTranslated];

    /// <summary>The maps of the L3/L4 policy (l4_maps.h).</summary>
    public static readonly IReadOnlyList<string> L4 = [L4Sources, L4Destinations, L4Rules, L4Generations, L4Active, L4RuleStats, L4Counters];

    /// <summary>The flow-event ring buffer and its settings and counters (flow_events.h), shared by every concern.</summary>
    public static readonly IReadOnlyList<string> Flows = [FlowEvents, FlowSettings, FlowCounters];

    /// <summary>Every map Mesh pins.</summary>
    public static readonly IReadOnlyList<string> All = [.. Splice, .. Divert, .. L4, .. Flows];
}
