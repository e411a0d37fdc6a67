using System.Diagnostics;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// A workload as a container runtime makes one: a child cgroup of the test's cgroup and a network namespace of its own
/// (loopback up, nothing else), with a long-lived process in both. Commands run in the workload join its cgroup first
/// and then its namespace (`ip netns exec` remounts /sys, so the cgroup must come first). Disposing ends the
/// processes, deletes the namespace and removes the cgroup.
/// </summary>
public sealed class TestWorkload : IDisposable
{
    private static int s_sequence;

    private readonly Process _anchor;

    private TestWorkload(string cgroup, string netns, Process anchor)
    {
        Cgroup = cgroup;
        Netns = netns;
        _anchor = anchor;
    }

    public string Cgroup { get; }

    public string Netns { get; }

    /// <summary>Makes the cgroup <paramref name="name"/> below <paramref name="parentCgroup"/> and a fresh namespace, and starts a process in both.</summary>
    public static TestWorkload Start(string parentCgroup, string name)
    {
        var netns = $"mesh-wl-{Environment.ProcessId}-{Interlocked.Increment(ref s_sequence)}";
        var cgroup = Directory.CreateDirectory(Path.Combine(parentCgroup, name)).FullName;
        try
        {
            Run(throwOnError: true, "ip", "netns", "add", netns);
            Run(throwOnError: true, "ip", "-n", netns, "link", "set", "lo", "up");
            var anchor = Process.Start(InWorkload(cgroup, netns, "sleep", "600"))!;
            return new TestWorkload(cgroup, netns, anchor);
        }
        catch
        {
            Run(throwOnError: false, "ip", "netns", "del", netns);
            Directory.Delete(cgroup);
            throw;
        }
    }

    /// <summary>Runs a command inside the workload (its cgroup, then its namespace) and returns its exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(params string[] command)
    {
        using var process = Process.Start(InWorkload(Cgroup, Netns, command))!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }

    /// <summary>One HTTP GET with curl from inside the workload: the status code, or "000" when it did not connect.</summary>
    public async Task<string> CurlStatusAsync(string url)
    {
        var (_, output) = await RunAsync("curl", "-s", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", url);
        return output.Trim();
    }

    public void Dispose()
    {
        try
        {
            if (!_anchor.HasExited)
            {
                _anchor.Kill(entireProcessTree: true);
            }
            _anchor.WaitForExit(5000);
            _anchor.Dispose();
        }
        finally
        {
            Run(throwOnError: false, "ip", "netns", "del", Netns);
            RemoveCgroup(Cgroup);
        }
    }

    /// <summary>rmdir of a cgroup whose last process just exited can fail with EBUSY for a moment.</summary>
    public static void RemoveCgroup(string cgroup)
    {
        for (var attempt = 0; Directory.Exists(cgroup); attempt++)
        {
            try
            {
                Directory.Delete(cgroup);
            }
            catch (IOException) when (attempt < 100)
            {
                Thread.Sleep(10);
            }
        }
    }

    private static ProcessStartInfo InWorkload(string cgroup, string netns, params string[] command)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("echo $$ > \"$0/cgroup.procs\" && ns=\"$1\" && shift && exec ip netns exec \"$ns\" \"$@\"");
        start.ArgumentList.Add(cgroup);
        start.ArgumentList.Add(netns);
        foreach (var argument in command)
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }

    private static void Run(bool throwOnError, params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} failed: {error.Trim()}");
        }
    }
}
