using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct splice_settings</c>: the single entry of the splice_settings array.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SpliceSettings
{
    public uint Enabled;
}

/// <summary>Mirror of <c>struct splice_direction</c>: socket-local storage of the splice programs.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SpliceDirection
{
    public ulong PeerNetnsCookie;
    public uint Flags;
    public uint Pad;
}
