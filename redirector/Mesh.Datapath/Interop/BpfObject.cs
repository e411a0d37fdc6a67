using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

/// <summary>
/// A libbpf <c>struct bpf_object</c>: one compiled .bpf.o, opened from memory and loaded into the kernel.
/// Its programs and maps stay valid while the object is open; <see cref="BpfProgram"/> and
/// <see cref="BpfMap"/> hold a reference on this handle so it cannot be closed under them.
/// </summary>
public sealed class BpfObject : SafeHandle
{
    private readonly string _name;

    private BpfObject(IntPtr obj, string name) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(obj);
        _name = name;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public string Name => _name;

    /// <summary>Opens an ELF object held in memory; libbpf copies the bytes, so the buffer may go.</summary>
    public static unsafe BpfObject Open(ReadOnlySpan<byte> elf, string name)
    {
        fixed (byte* bytes = elf)
        {
            var obj = BpfException.ThrowIfNull(LibBpf.ObjectOpenMem(bytes, (nuint)elf.Length, IntPtr.Zero), $"opening BPF object {name}");
            return new BpfObject(obj, name);
        }
    }

    /// <summary>
    /// Gives every declared map a pin path under <paramref name="directory"/>. At load, libbpf reuses a map
    /// already pinned there (so sibling objects and a restarted agent share one instance) or creates and pins it.
    /// Internal maps (.rodata, .bss) belong to one object and are never pinned.
    /// </summary>
    public void PinMapsUnder(string directory)
    {
        foreach (var map in MapPointers().Where(map => !LibBpf.MapIsInternal(map)))
        {
            var path = Path.Combine(directory, Marshal.PtrToStringUTF8(LibBpf.MapName(map))!);
            BpfException.ThrowIfError(LibBpf.MapSetPinPath(map, path), $"setting pin path {path}");
        }
    }

    public void Load() => BpfException.ThrowIfError(LibBpf.ObjectLoad(handle), $"loading BPF object {_name}");

    public BpfProgram Program(string name)
    {
        var program = LibBpf.ObjectFindProgram(handle, name);
        if (program == IntPtr.Zero)
        {
            throw new InvalidOperationException($"BPF object {_name} has no program '{name}'");
        }
        return new BpfProgram(this, program, name);
    }

    public BpfMap Map(string name)
    {
        foreach (var map in MapPointers())
        {
            if (Marshal.PtrToStringUTF8(LibBpf.MapName(map)) == name)
            {
                return BpfMap.OwnedBy(this, LibBpf.MapFd(map), name);
            }
        }
        throw new InvalidOperationException($"BPF object {_name} has no map '{name}'");
    }

    private List<IntPtr> MapPointers()
    {
        var maps = new List<IntPtr>();
        for (var map = LibBpf.ObjectNextMap(handle, IntPtr.Zero); map != IntPtr.Zero; map = LibBpf.ObjectNextMap(handle, map))
        {
            maps.Add(map);
        }
        return maps;
    }

    protected override bool ReleaseHandle()
    {
        LibBpf.ObjectClose(handle);
        return true;
    }
}
