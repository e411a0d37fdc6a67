namespace Mesh.Redirector.Maps;

/// <summary>Names of the maps in bpf/include/*_maps.h, which are also their pin file names.</summary>
public static class MapNames
{
    public const string SpliceSockets = "splice_sockets";
    public const string SpliceCounters = "splice_counters";
    public const string SpliceSettings = "splice_settings";
    public const string SpliceDirections = "splice_directions";
    public const string NodeAddresses = "node_addresses";

    public const string L7Services = "l7_services";
    public const string DivertSettings = "divert_settings";
    public const string DivertByCookie = "divert_by_cookie";
    public const string DivertByTuple = "divert_by_tuple";
    public const string DivertCounters = "divert_counters";

    /// <summary>The maps of the kernel splice (splice_maps.h).</summary>
    public static readonly IReadOnlyList<string> Splice = [SpliceSockets, SpliceCounters, SpliceSettings, SpliceDirections, NodeAddresses];

    /// <summary>The maps of the L7 diversion (divert_maps.h).</summary>
    public static readonly IReadOnlyList<string> Divert = [L7Services, DivertSettings, DivertByCookie, DivertByTuple, DivertCounters];

    /// <summary>Every map Mesh pins.</summary>
    public static readonly IReadOnlyList<string> All = [.. Splice, .. Divert];
}
