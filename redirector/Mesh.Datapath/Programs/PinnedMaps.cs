namespace Mesh.Datapath.Programs;

/// <summary>Map pins in Mesh's bpffs directory.</summary>
public static class PinnedMaps
{
    public static bool Any(string pinDirectory, IEnumerable<string> names) =>
        names.Any(name => File.Exists(Path.Combine(pinDirectory, name)));

    /// <summary>Unpins the named maps and removes the directory once nothing else is left in it.</summary>
    public static void Remove(string pinDirectory, IEnumerable<string> names)
    {
        if (!Directory.Exists(pinDirectory))
        {
            return;
        }
        foreach (var name in names)
        {
            File.Delete(Path.Combine(pinDirectory, name));
        }
        if (!Directory.EnumerateFileSystemEntries(pinDirectory).Any())
        {
            Directory.Delete(pinDirectory);
        }
    }
}
