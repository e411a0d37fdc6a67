namespace Mesh.Datapath.Programs;

/// <summary>
/// A cgroup v2 directory made for a demo, a test or a benchmark, so the splice never touches
/// the rest of the machine. Processes moved in are moved back to where they came from before it is removed.
/// </summary>
public sealed class ChildCgroup : IDisposable
{
    private static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(5);

    private readonly List<(int Pid, string Origin)> _moved = [];

    private ChildCgroup(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Creates <paramref name="name"/> under the cgroup v2 root.</summary>
    public static ChildCgroup Create(string name)
    {
        var path = System.IO.Path.Combine(Cgroup.FindV2Root(), name);
        Directory.CreateDirectory(path);
        return new ChildCgroup(path);
    }

    /// <summary>Moves a whole process (all its threads) in; sockets it creates from now on belong to this cgroup.</summary>
    public void Enter(int pid)
    {
        _moved.Add((pid, Cgroup.Of(pid)));
        File.WriteAllText(System.IO.Path.Combine(Path, "cgroup.procs"), pid.ToString());
    }

    public void EnterCurrentProcess() => Enter(Environment.ProcessId);

    /// <summary>Moves every process this instance moved in back to the cgroup it came from.</summary>
    public void LeaveAll()
    {
        foreach (var (pid, origin) in _moved)
        {
            MoveIgnoringExited(pid.ToString(), origin);
        }
        _moved.Clear();
    }

    public void Dispose()
    {
        if (!Directory.Exists(Path))
        {
            return;
        }
        LeaveAll();
        // A process that was just killed still counts (EBUSY) until the kernel is done with its exit, which moving
        // cannot hurry (ESRCH): try again for a bounded while.
        var deadline = DateTime.UtcNow + ExitGrace;
        while (true)
        {
            // Anything still inside (children the caller started) is moved out so the directory can go.
            foreach (var pid in File.ReadAllLines(System.IO.Path.Combine(Path, "cgroup.procs")).Where(line => line.Length > 0))
            {
                MoveIgnoringExited(pid, System.IO.Path.GetDirectoryName(Path)!);
            }
            try
            {
                Directory.Delete(Path);
                return;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    private static void MoveIgnoringExited(string pid, string cgroup)
    {
        try
        {
            File.WriteAllText(System.IO.Path.Combine(cgroup, "cgroup.procs"), pid);
        }
        catch (IOException)
        {
            // The process exited meanwhile (ESRCH): there is nothing left to move.
        }
    }
}
