using System.Runtime.InteropServices;

namespace Mesh.Datapath.Interop;

/// <summary>A libbpf or bpf(2) call failed; <see cref="Errno"/> is the positive errno.</summary>
public sealed class BpfException : Exception
{
    public BpfException(string operation, int errno)
        : base($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}){Hint(errno)}")
    {
        Errno = errno;
    }

    public int Errno { get; }

    /// <summary>Throws when a libbpf call returned a negative errno.</summary>
    internal static int ThrowIfError(int result, string operation)
    {
        if (result < 0)
        {
            throw new BpfException(operation, -result);
        }
        return result;
    }

    /// <summary>Throws when a libbpf call returned NULL; libbpf 1.x leaves the reason in errno.</summary>
    internal static IntPtr ThrowIfNull(IntPtr result, string operation)
    {
        if (result == IntPtr.Zero)
        {
            throw new BpfException(operation, Marshal.GetLastPInvokeError());
        }
        return result;
    }

    // EPERM is the kernel's answer to missing privileges; EACCES comes from the verifier refusing a program.
    private static string Hint(int errno) => errno == 1 ? "; loading BPF programs needs root or CAP_BPF and CAP_NET_ADMIN" : "";
}
