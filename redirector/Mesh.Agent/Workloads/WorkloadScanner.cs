namespace Mesh.Agent.Workloads;

/// <summary>A cgroup with a process in a network namespace other than the agent's: a workload, before its namespace is probed.</summary>
internal sealed record WorkloadCandidate(string Cgroup, int Pid, ulong NetnsInode);

/// <summary>
/// Finds the workloads below a cgroup: each cgroup (the served one excluded) whose first process is in another network
/// namespace than the agent's, the first cgroup found for each namespace. A cgroup or process that goes away while it
/// is read is skipped: the next scan sees the tree as it is then.
/// </summary>
internal sealed class WorkloadScanner(string servedCgroup, ulong agentNetnsInode)
{
    private static readonly EnumerationOptions Recursive = new() { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };

    public List<WorkloadCandidate> Scan()
    {
        var found = new List<WorkloadCandidate>();
        var namespaces = new HashSet<ulong>();
        IEnumerable<string> cgroups;
        try
        {
            // Parents come before their children, so a namespace is the workload of its topmost cgroup.
            cgroups = Directory.EnumerateDirectories(servedCgroup, "*", Recursive).ToList();
        }
        catch (DirectoryNotFoundException)
        {
            return found;
        }
        foreach (var cgroup in cgroups)
        {
            if (FirstProcess(cgroup) is not { } pid || NamespaceThread.InodeOf(pid) is not { } inode || inode == agentNetnsInode || !namespaces.Add(inode))
            {
                continue;
            }
            found.Add(new WorkloadCandidate(cgroup, pid, inode));
        }
        return found;
    }

    private static int? FirstProcess(string cgroup)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(cgroup, "cgroup.procs")))
            {
                if (int.TryParse(line, out var pid))
                {
                    return pid;
                }
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Removed meanwhile, or not a cgroup v2 directory.
        }
        return null;
    }
}
