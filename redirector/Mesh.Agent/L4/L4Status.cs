using Mesh.Datapath.Maps;

namespace Mesh.Agent.L4;

/// <summary>The L4 policy in force and its counters: per rule (same order), the default's, and the XDP parser's.</summary>
public sealed record L4Status(L4State State, IReadOnlyList<L4RuleStats> RuleStats, L4RuleStats DefaultStats, ulong Malformed, ulong Fragments);
