using Mesh.Redirector.Maps;

namespace Mesh.Redirector.Programs;

/// <summary>The map pins Mesh keeps in its bpffs directory.</summary>
public static class PinnedMaps
{
    public static bool Any(string pinDirectory) =>
        SpliceMapNames.All.Any(name => File.Exists(Path.Combine(pinDirectory, name)));

    /// <summary>Unpins every Mesh map and removes the directory when nothing else is left in it.</summary>
    public static void Remove(string pinDirectory)
    {
        if (!Directory.Exists(pinDirectory))
        {
            return;
        }
        foreach (var name in SpliceMapNames.All)
        {
            File.Delete(Path.Combine(pinDirectory, name));
        }
        if (!Directory.EnumerateFileSystemEntries(pinDirectory).Any())
        {
            Directory.Delete(pinDirectory);
        }
    }
}
