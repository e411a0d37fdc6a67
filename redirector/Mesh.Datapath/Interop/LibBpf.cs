using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

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

    [LibraryImport(Library, EntryPoint = "bpf_program__attach_iter", SetLastError = true)]
    public static partial IntPtr ProgramAttachIter(IntPtr program, IntPtr options);

    [LibraryImport(Library, EntryPoint = "bpf_link__fd")]
    public static partial int LinkFd(IntPtr link);

    [LibraryImport(Library, EntryPoint = "bpf_iter_create")]
    public static partial int IterCreate(int linkFd);

    [LibraryImport(Library, EntryPoint = "bpf_xdp_attach")]
    public static partial int XdpAttach(int ifindex, int programFd, XdpFlags flags, IntPtr options);

    [LibraryImport(Library, EntryPoint = "bpf_xdp_detach")]
    public static partial int XdpDetach(int ifindex, XdpFlags flags, IntPtr options);

    [LibraryImport(Library, EntryPoint = "bpf_prog_test_run_opts")]
    public static partial int ProgTestRun(int programFd, TestRunOptions* options);

    [LibraryImport(Library, EntryPoint = "ring_buffer__new", SetLastError = true)]
    public static partial IntPtr RingBufferNew(int mapFd, delegate* unmanaged<IntPtr, void*, nuint, int> sample, IntPtr context, IntPtr options);

    [LibraryImport(Library, EntryPoint = "ring_buffer__poll")]
    public static partial int RingBufferPoll(IntPtr ringBuffer, int timeoutMs);

    [LibraryImport(Library, EntryPoint = "ring_buffer__consume")]
    public static partial int RingBufferConsume(IntPtr ringBuffer);

    [LibraryImport(Library, EntryPoint = "ring_buffer__free")]
    public static partial void RingBufferFree(IntPtr ringBuffer);

    [LibraryImport(Library, EntryPoint = "bpf_link__open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr LinkOpen(string path);

    [LibraryImport(Library, EntryPoint = "bpf_link__update_program")]
    public static partial int LinkUpdateProgram(IntPtr link, IntPtr program);

    [LibraryImport(Library, EntryPoint = "bpf_link__pin", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LinkPin(IntPtr link, string path);

    [LibraryImport(Library, EntryPoint = "bpf_link__unpin")]
    public static partial int LinkUnpin(IntPtr link);

    [LibraryImport(Library, EntryPoint = "bpf_link__detach")]
    public static partial int LinkDetach(IntPtr link);

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

/// <summary>XDP_FLAGS_* of include/uapi/linux/if_link.h.</summary>
[Flags]
public enum XdpFlags : uint
{
    None = 0,
    UpdateIfNoExist = 1,
    SkbMode = 2,
    DrvMode = 4,
}

/// <summary>
/// libbpf's <c>struct bpf_test_run_opts</c>, the one libbpf struct Mesh mirrors: BPF_PROG_TEST_RUN has
/// no opaque-pointer API. libbpf only appends fields and reads <see cref="Size"/> to know which
/// ones the caller has, so this prefix stays valid in later releases.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct TestRunOptions
{
    public nuint Size;
    public void* DataIn;
    public void* DataOut;
    public uint DataSizeIn;
    public uint DataSizeOut;
    public void* ContextIn;
    public void* ContextOut;
    public uint ContextSizeIn;
    public uint ContextSizeOut;
    public uint ReturnValue;
    public int Repeat;
    public uint Duration;
    public uint Flags;
    public uint Cpu;
    public uint BatchSize;
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

    [LibraryImport(Library, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Library, EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint IfNameToIndex(string name);

    [LibraryImport(Library, EntryPoint = "clock_gettime", SetLastError = true)]
    public static partial int ClockGetTime(int clock, TimeSpec* time);

    [LibraryImport(Library, EntryPoint = "name_to_handle_at", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int NameToHandleAt(int directoryFd, string path, CgroupFileHandle* handle, int* mountId, int flags);

    [LibraryImport(Library, EntryPoint = "vsnprintf")]
    public static partial int VsnPrintf(byte* buffer, nuint size, byte* format, IntPtr args);

    public const int AtFdCwd = -100;
    public const int ClockBoottime = 7;
    public const int ORdOnly = 0;
    public const int ODirectory = 0x10000;
    public const int OCloexec = 0x80000;
}

/// <summary>struct file_handle with room for a cgroup's handle, which is its 64-bit id.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CgroupFileHandle
{
    public uint HandleBytes;
    public int HandleType;
    public ulong Id;
}

/// <summary>struct timespec on 64-bit Linux.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TimeSpec
{
    public long Seconds;
    public long Nanoseconds;
}
