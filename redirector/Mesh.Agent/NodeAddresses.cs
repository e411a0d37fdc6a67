using System.Net;
using System.Net.NetworkInformation;

namespace Mesh.Agent;

/// <summary>This node's own unicast addresses: a peer at one of them is on this node and can be spliced.</summary>
internal static class NodeAddresses
{
    public static IReadOnlyList<IPAddress> Current() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(nic => nic.OperationalStatus == OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(nic => nic.GetIPProperties().UnicastAddresses)
            .Select(unicast => unicast.Address)
            .Where(address => !address.IsIPv6LinkLocal)
            .ToList();
}
