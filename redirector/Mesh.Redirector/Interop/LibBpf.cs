using System.Runtime.InteropServices;

namespace Mesh.Redirector.Interop;

/// <summary>
/// The libbpf 1.x calls Mesh uses, bound by <see cref="LibraryImportAttribute"/>. Only opaque
/// pointers cross the boundary (no libbpf struct is mirrored), so the binding does not depend on
/// the layout of libbpf's option structs, which change between releases.
/// Functions return a negative errno (or NULL with errno set); <see cref="BpfException"/> turns that into an error.
/// </summary>
internal static unsafe partial class LibBpf
{
    private const string Library = "libbpf.so.1";

    [LibraryImport(Library, EntryPoint = "bpf_object__open_mem", SetLastError = true)]
    public static partial IntPtr ObjectOpenMem(byte* buffer, nuint size, IntPtr options);

    [LibraryImport(Library, EntryPoint = "bpf_object__load")]
    public static partial int ObjectLoad(IntPtr obj);

    [LibraryImport(Library, EntryPoint = "bpf_object__close")]
    public static partial void ObjectClose(IntPtr obj);

    [LibraryImport(Library, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ObjectFindProgram(IntPtr obj, string name);

    [LibraryImport(Library, EntryPoint = "bpf_object__next_map")]
    public static partial IntPtr ObjectNextMap(IntPtr obj, IntPtr previous);

    [LibraryImport(Library, EntryPoint = "bpf_map__name")]
    public static partial IntPtr MapName(IntPtr map);

    [LibraryImport(Library, EntryPoint = "bpf_map__is_internal")]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool MapIsInternal(IntPtr map);

    [LibraryImport(Library, EntryPoint = "bpf_map__fd")]
    public static partial int MapFd(IntPtr map);

    [LibraryImport(Library, EntryPoint = "bpf_map__set_pin_path", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MapSetPinPath(IntPtr map, string path);

    [LibraryImport(Library, EntryPoint = "bpf_program__fd")]
    public static partial int ProgramFd(IntPtr program);

    [LibraryImport(Library, EntryPoint = "bpf_program__attach_cgroup", SetLastError = true)]
    public static partial IntPtr ProgramAttachCgroup(IntPtr program, int cgroupFd);

    [LibraryImport(Library, EntryPoint = "bpf_link__destroy")]
    public static partial int LinkDestroy(IntPtr link);

    [LibraryImport(Library, EntryPoint = "bpf_prog_attach")]
    public static partial int ProgAttach(int programFd, int attachableFd, BpfAttachType type, uint flags);

    [LibraryImport(Library, EntryPoint = "bpf_prog_detach2")]
    public static partial int ProgDetach(int programFd, int attachableFd, BpfAttachType type);

    [LibraryImport(Library, EntryPoint = "bpf_obj_get", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ObjGet(string path);

    [LibraryImport(Library, EntryPoint = "bpf_map_lookup_elem")]
    public static partial int MapLookup(int fd, void* key, void* value);

    [LibraryImport(Library, EntryPoint = "bpf_map_update_elem")]
    public static partial int MapUpdate(int fd, void* key, void* value, ulong flags);

    [LibraryImport(Library, EntryPoint = "bpf_map_delete_elem")]
    public static partial int MapDelete(int fd, void* key);

    [LibraryImport(Library, EntryPoint = "bpf_map_get_next_key")]
    public static partial int MapGetNextKey(int fd, void* key, void* nextKey);

    [LibraryImport(Library, EntryPoint = "libbpf_num_possible_cpus")]
    public static partial int NumPossibleCpus();

    [LibraryImport(Library, EntryPoint = "libbpf_set_print")]
    public static partial IntPtr SetPrint(delegate* unmanaged<int, byte*, IntPtr, int> callback);
}

/// <summary>enum bpf_attach_type values (include/uapi/linux/bpf.h) that Mesh attaches with.</summary>
public enum BpfAttachType
{
    CgroupSockOps = 3,
    SkMsgVerdict = 7,
}

/// <summary>The libc calls Mesh needs besides libbpf.</summary>
internal static unsafe partial class LibC
{
    private const string Library = "libc";

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Library, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fileSystemType, ulong flags, IntPtr data);

    [LibraryImport(Library, EntryPoint = "vsnprintf")]
    public static partial int VsnPrintf(byte* buffer, nuint size, byte* format, IntPtr args);

    public const int ORdOnly = 0;
    public const int ODirectory = 0x10000;
    public const int OCloexec = 0x80000;
}
