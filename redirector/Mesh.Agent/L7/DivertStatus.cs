using Mesh.Datapath.Maps;

namespace Mesh.Agent.L7;

/// <summary>The L7 diversion: how many services it diverts, its counters, and the node proxy's process (pid null while it is down).</summary>
public sealed record DivertStatus(int Services, DivertCounterSnapshot Counters, int? ProxyPid, int ProxyRestarts);
