namespace Mesh.Redirector.Maps;

/// <summary>Names of the maps in bpf/include/splice_maps.h, which are also their pin file names.</summary>
public static class SpliceMapNames
{
    public const string Sockets = "splice_sockets";
    public const string Counters = "splice_counters";
    public const string Settings = "splice_settings";
    public const string Directions = "splice_directions";
    public const string NodeAddresses = "node_addresses";

    public static readonly IReadOnlyList<string> All = [Sockets, Counters, Settings, Directions, NodeAddresses];
}
