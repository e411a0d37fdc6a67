using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

/// <summary>
/// A BPF map reached through its file descriptor: either a map of a loaded <see cref="BpfObject"/>
/// (the object owns the fd) or a pinned map opened by path (this instance owns the fd).
/// Keys and values are the unmanaged mirrors in <c>Maps/</c>.
/// </summary>
public sealed unsafe class BpfMap : IDisposable
{
    private readonly HandleLease _lease;
    private readonly FileDescriptorHandle? _ownFd;
    private readonly int _fd;

    private BpfMap(SafeHandle owner, int fd, string name)
    {
        _lease = new HandleLease(owner);
        _ownFd = owner as FileDescriptorHandle;
        _fd = fd;
        Name = name;
    }

    public string Name { get; }

    internal int Fd => _fd;

    internal static BpfMap OwnedBy(BpfObject owner, int fd, string name) => new(owner, fd, name);

    /// <summary>Opens a map pinned in bpffs, e.g. by a running agent.</summary>
    public static BpfMap OpenPinned(string path)
    {
        var fd = LibBpf.ObjGet(path);
        if (fd < 0)
        {
            throw new BpfException($"opening pinned map {path}", -fd);
        }
        return new BpfMap(new FileDescriptorHandle(fd), fd, Path.GetFileName(path));
    }

    public bool TryLookup<TKey, TValue>(in TKey key, out TValue value)
        where TKey : unmanaged where TValue : unmanaged
    {
        TValue result = default;
        fixed (TKey* keyPointer = &key)
        {
            var rc = LibBpf.MapLookup(_fd, keyPointer, &result);
            if (rc == -2) // ENOENT
            {
                value = default;
                return false;
            }
            BpfException.ThrowIfError(rc, $"looking up map {Name}");
        }
        value = result;
        return true;
    }

    public void Update<TKey, TValue>(in TKey key, in TValue value, MapUpdate flags = MapUpdate.Any)
        where TKey : unmanaged where TValue : unmanaged
    {
        fixed (TKey* keyPointer = &key)
        fixed (TValue* valuePointer = &value)
        {
            BpfException.ThrowIfError(LibBpf.MapUpdate(_fd, keyPointer, valuePointer, (ulong)flags), $"updating map {Name}");
        }
    }

    public bool Delete<TKey>(in TKey key) where TKey : unmanaged
    {
        fixed (TKey* keyPointer = &key)
        {
            var rc = LibBpf.MapDelete(_fd, keyPointer);
            if (rc == -2)
            {
                return false;
            }
            BpfException.ThrowIfError(rc, $"deleting from map {Name}");
            return true;
        }
    }

    /// <summary>All keys, read with bpf_map_get_next_key; entries may come and go meanwhile.</summary>
    public List<TKey> Keys<TKey>() where TKey : unmanaged
    {
        var keys = new List<TKey>();
        TKey current = default;
        var rc = LibBpf.MapGetNextKey(_fd, null, &current);
        while (rc == 0)
        {
            keys.Add(current);
            TKey next = default;
            rc = LibBpf.MapGetNextKey(_fd, &current, &next);
            current = next;
        }
        if (rc != -2)
        {
            BpfException.ThrowIfError(rc, $"listing keys of map {Name}");
        }
        return keys;
    }

    /// <summary>Sums the per-CPU 64-bit slots of a per-CPU map entry.</summary>
    public ulong SumPerCpu<TKey>(in TKey key) where TKey : unmanaged
    {
        ulong sum = 0;
        foreach (var slot in ReadPerCpu<TKey, ulong>(key))
        {
            sum += slot;
        }
        return sum;
    }

    /// <summary>The values of a per-CPU map entry, one per possible CPU (not per online CPU).</summary>
    public TValue[] ReadPerCpu<TKey, TValue>(in TKey key) where TKey : unmanaged where TValue : unmanaged
    {
        // The kernel copies one value per possible CPU, each rounded up to 8 bytes.
        PerCpuLayout<TValue>();
        var values = new TValue[LibBpf.NumPossibleCpus()];
        fixed (TKey* keyPointer = &key)
        fixed (TValue* valuePointer = values)
        {
            BpfException.ThrowIfError(LibBpf.MapLookup(_fd, keyPointer, valuePointer), $"looking up map {Name}");
        }
        return values;
    }

    /// <summary>Sets a per-CPU map entry to <paramref name="value"/> on every CPU.</summary>
    public void WritePerCpu<TKey, TValue>(in TKey key, TValue value) where TKey : unmanaged where TValue : unmanaged
    {
        PerCpuLayout<TValue>();
        var values = new TValue[LibBpf.NumPossibleCpus()];
        Array.Fill(values, value);
        fixed (TKey* keyPointer = &key)
        fixed (TValue* valuePointer = values)
        {
            BpfException.ThrowIfError(LibBpf.MapUpdate(_fd, keyPointer, valuePointer, (ulong)MapUpdate.Any), $"updating map {Name}");
        }
    }

    private static void PerCpuLayout<TValue>() where TValue : unmanaged
    {
        if (sizeof(TValue) % 8 != 0)
        {
            throw new ArgumentException($"{typeof(TValue).Name} is {sizeof(TValue)} bytes; per-CPU values are read in 8-byte multiples");
        }
    }

    public void Dispose()
    {
        _lease.Dispose();
        _ownFd?.Dispose();
    }
}

/// <summary>Flags of bpf_map_update_elem.</summary>
public enum MapUpdate : ulong
{
    Any = 0,
    NoExist = 1,
    Exist = 2,
}
