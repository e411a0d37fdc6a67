namespace Mesh.Datapath.Programs;

/// <summary>The compiled bpf/*.bpf.o objects, embedded in this assembly by the build (or read from a directory).</summary>
public static class EmbeddedPrograms
{
    public static byte[] Read(string objectName, string? directory) =>
        directory is null ? Read(objectName) : File.ReadAllBytes(Path.Combine(directory, objectName));

    public const string SockOps = "sockops.bpf.o";
    public const string Redirect = "redirect.bpf.o";
    public const string Divert = "divert.bpf.o";
    public const string XdpFilter = "xdp_filter.bpf.o";
    public const string LocalPolicy = "local_policy.bpf.o";

    public static byte[] Read(string objectName)
    {
        using var stream = typeof(EmbeddedPrograms).Assembly.GetManifestResourceStream($"bpf/{objectName}")
            ?? throw new InvalidOperationException($"BPF object {objectName} is not embedded; build bpf/ first (make -C bpf)");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
