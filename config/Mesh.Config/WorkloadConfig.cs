namespace Mesh.Config;

/// <summary>
/// A workload the config names: the processes of <see cref="Cgroup"/> (a cgroup below the one the agent serves, with its
/// own network namespace). A service's <c>source: { workload: name }</c> recognises the connections it makes.
/// </summary>
public sealed record WorkloadConfig
{
    /// <summary>A DNS label, unique among the workloads.</summary>
    public string Name { get; init; } = "";

    /// <summary>The absolute cgroup v2 directory of the workload.</summary>
    public string Cgroup { get; init; } = "";

    /// <summary>Free-form labels, shown by `mesh status`.</summary>
    public ValueList<KeyValuePair<string, string>> Labels { get; init; } = [];
}
