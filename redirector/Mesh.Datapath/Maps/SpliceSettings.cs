using System.Runtime.InteropServices;

namespace Mesh.Datapath.Maps;

/// <summary>Mirror of <c>struct splice_settings</c>: the single entry of the splice_settings array.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SpliceSettings
{
    public uint Enabled;
    public uint Pad;
    public ulong NodeNetnsCookie;
}

/// <summary>Mirror of <c>struct splice_direction</c>: socket-local storage of the sk_msg program.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SpliceDirection
{
    public uint KeptOnTcp;
}
