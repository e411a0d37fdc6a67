namespace Mesh.Datapath.Interop;

/// <summary>An XDP program attached to an interface; disposing detaches it.</summary>
public sealed class XdpAttachment : IDisposable
{
    private bool _detached;

    internal XdpAttachment(string interfaceName, int ifindex, XdpFlags mode)
    {
        InterfaceName = interfaceName;
        InterfaceIndex = ifindex;
        Mode = mode;
    }

    public string InterfaceName { get; }

    public int InterfaceIndex { get; }

    /// <summary><see cref="XdpFlags.DrvMode"/> (native) or <see cref="XdpFlags.SkbMode"/> (generic).</summary>
    public XdpFlags Mode { get; }

    public void Dispose()
    {
        if (_detached)
        {
            return;
        }
        _detached = true;
        // An interface that disappeared (a deleted veth) took the program with it: nothing to undo.
        _ = LibBpf.XdpDetach(InterfaceIndex, Mode, IntPtr.Zero);
    }
}
