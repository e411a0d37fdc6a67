namespace Mesh.Agent.Flows;

/// <summary>Flow events the kernel sent to the agent, and lost to a full ring buffer.</summary>
public sealed record FlowEventTotals(ulong Sent, ulong Lost);
