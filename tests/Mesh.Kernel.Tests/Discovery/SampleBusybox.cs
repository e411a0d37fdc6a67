using Mesh.Testing;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// The copy of the host's static busybox that the compose samples' build context needs (config/examples/compose/busybox,
/// ignored by git), made as a user makes it; disposing removes it only if it was made here.
/// </summary>
public sealed class SampleBusybox : IDisposable
{
    private readonly string? _made;

    private SampleBusybox(string? made)
    {
        _made = made;
    }

    public static SampleBusybox Provide()
    {
        var copy = Path.Combine(Path.GetDirectoryName(RepositoryFiles.FullPath("config/examples/compose/client/calls.sh"))!, "..", "busybox");
        if (File.Exists(copy))
        {
            return new SampleBusybox(null);
        }
        File.Copy("/bin/busybox", copy);
        return new SampleBusybox(copy);
    }

    public void Dispose()
    {
        if (_made is not null)
        {
            File.Delete(_made);
        }
    }
}
