namespace Mesh.Config;

/// <summary>One entry of <c>l4.interfaces</c>: a network interface the XDP filter attaches to.</summary>
/// <param name="Name">The Linux interface name, as <c>ip link</c> shows it: 1 to 15 characters.</param>
public sealed record XdpInterface(string Name, XdpMode Mode = XdpMode.Auto);

/// <summary>How the XDP program attaches to an interface.</summary>
public enum XdpMode
{
    /// <summary>Native when the driver supports it, otherwise generic; the agent reports which one it got. The default.</summary>
    Auto,

    /// <summary>In the driver, before the kernel allocates a socket buffer; attaching fails when the driver lacks XDP support.</summary>
    Native,

    /// <summary>In the kernel's network stack (SKB mode): works on every interface, but slower.</summary>
    Generic,
}
