using System.Net;
using Mesh.Config;
using Mesh.Datapath.Flows;
using Mesh.Datapath.Maps;

namespace Mesh.Agent.Flows;

/// <summary>Resolves the kernel's flow events into <see cref="FlowRecord"/>s, with the config's service names.</summary>
internal sealed class FlowNames
{
    private readonly Dictionary<IPEndPoint, string> _serviceOf;
    private readonly Func<uint, string?> _ruleOfSlot;
    private readonly Func<uint, string?> _serviceOfId;

    /// <param name="serviceOfId">The name of the translated service of an lb_service.id (a translated flow's rule_slot).</param>
    public FlowNames(MeshConfig config, Func<uint, string?> ruleOfSlot, Func<uint, string?> serviceOfId)
    {
        _ruleOfSlot = ruleOfSlot;
        _serviceOfId = serviceOfId;
        _serviceOf = new Dictionary<IPEndPoint, string>();
        // A service is known by the address clients dial and by each of its endpoints.
        foreach (var service in config.Services)
        {
            foreach (var endpoint in service.Endpoints)
            {
                _serviceOf.TryAdd(endpoint, service.Name);
            }
        }
        foreach (var service in config.Services)
        {
            _serviceOf[service.EndPoint] = service.Name;
        }
    }

    public FlowRecord Resolve(in FlowEvent flow)
    {
        var verdict = (FlowVerdict)flow.Verdict;
        var destination = flow.DestinationEndPoint;
        return new FlowRecord(
            BootClock.ToWallClock(flow.TimestampNs),
            verdict.ToString().ToLowerInvariant(),
            ProtocolName(flow.Protocol),
            Format(flow.SourceEndPoint),
            Format(destination),
            (verdict == FlowVerdict.Translated ? _serviceOfId(flow.RuleSlot) : null) ?? _serviceOf.GetValueOrDefault(destination),
            verdict is FlowVerdict.Denied or FlowVerdict.Dropped ? _ruleOfSlot(flow.RuleSlot) : null);
    }

    private static string ProtocolName(uint protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        _ => protocol.ToString(),
    };

    /// <summary>address:port, [v6]:port, or the bare address when the port is unknown (0).</summary>
    private static string Format(IPEndPoint endpoint) => endpoint.Port == 0 ? endpoint.Address.ToString() : endpoint.ToString();
}
