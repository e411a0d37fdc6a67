using System.Text.Json;

namespace Mesh.Agent;

/// <summary>
/// What a running agent has attached where, written to /run/mesh so `mesh status` can say it.
/// bpffs holds only BPF objects, so this small JSON file sits beside it.
/// </summary>
public sealed record AgentState(int Pid, string Cgroup, string PinDirectory, bool SpliceEnabled, string Config, DateTimeOffset StartedAt)
{
    public const string StateDirectory = "/run/mesh";

    public static string PathFor(string pinDirectory) =>
        Path.Combine(StateDirectory, Path.GetFileName(Path.TrimEndingDirectorySeparator(pinDirectory)) + ".json");

    /// <summary>Where the agent with pin directory <paramref name="pinDirectory"/> serves its admin API.</summary>
    public static string AdminSocketPathFor(string pinDirectory) => Path.ChangeExtension(PathFor(pinDirectory), ".sock");

    public void Write()
    {
        Directory.CreateDirectory(StateDirectory);
        var path = PathFor(PinDirectory);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The state of the agent pinned at <paramref name="pinDirectory"/>, or null when none is running.</summary>
    public static AgentState? ReadRunning(string pinDirectory)
    {
        var path = PathFor(pinDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        var state = JsonSerializer.Deserialize<AgentState>(File.ReadAllText(path));
        return state is not null && IsMeshProcess(state.Pid) ? state : null;
    }

    /// <summary>A file left by a killed agent names a pid that may since belong to another program.</summary>
    private static bool IsMeshProcess(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("mesh", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static void Delete(string pinDirectory) => File.Delete(PathFor(pinDirectory));
}
