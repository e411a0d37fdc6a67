using Mesh.Datapath.Interop;

namespace Mesh.Datapath.Programs;

/// <summary>A BPF object failed to load (often the verifier); carries what libbpf printed, verifier log included.</summary>
public sealed class BpfLoadException : Exception
{
    public BpfLoadException(string objectName, BpfException error, string libBpfLog)
        : base($"the kernel refused BPF object {objectName}: {error.Message}", error)
    {
        ObjectName = objectName;
        LibBpfLog = libBpfLog;
    }

    public string ObjectName { get; }

    /// <summary>libbpf's output for the failed load, including the verifier log when the verifier refused a program.</summary>
    public string LibBpfLog { get; }
}
