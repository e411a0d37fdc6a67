namespace Mesh.Agent.Workloads;

/// <summary>A workload as `mesh status` shows it.</summary>
/// <param name="Listeners">How many listeners the node proxy has in the workload's network namespace.</param>
/// <param name="Labels">The labels its listeners carry, its identity for <c>source.labels</c>, as key=value.</param>
public sealed record WorkloadStatus(string Cgroup, string? Name, ulong NetnsCookie, IReadOnlyList<string> Addresses, int Listeners, IReadOnlyList<string> Labels);
