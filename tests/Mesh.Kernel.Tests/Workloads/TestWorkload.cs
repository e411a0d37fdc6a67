using System.Diagnostics;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// A workload as a container runtime makes one: a network namespace of its own (loopback up, nothing else) and a child
/// cgroup of the test's cgroup, with a long-lived process in both; it joins the cgroup once its namespace is ready, as
/// a runtime starts the container's process last. The namespace lives as long as that process. Commands run in the
/// workload join its cgroup, then its namespace (nsenter). Disposing ends the process and removes the cgroup.
/// </summary>
public sealed class TestWorkload : IDisposable
{
    private readonly Process _anchor;

    private TestWorkload(string cgroup, Process anchor)
    {
        Cgroup = cgroup;
        _anchor = anchor;
    }

    public string Cgroup { get; }

    /// <summary>The workload's process, whose network namespace is the workload's.</summary>
    public int Pid => _anchor.Id;

    /// <summary>Makes the cgroup <paramref name="name"/> below <paramref name="parentCgroup"/> and starts a process in it, in a new namespace.</summary>
    public static TestWorkload Start(string parentCgroup, string name)
    {
        var cgroup = Directory.CreateDirectory(Path.Combine(parentCgroup, name)).FullName;
        try
        {
            var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "--net", "sh", "-c", "ip link set lo up && echo $$ > \"$0/cgroup.procs\" && echo ready && exec sleep 600", cgroup })
            {
                start.ArgumentList.Add(argument);
            }
            var workload = new TestWorkload(cgroup, Process.Start(start)!);
            workload.WaitUntilReady();
            return workload;
        }
        catch
        {
            RemoveCgroup(cgroup);
            throw;
        }
    }

    /// <summary>
    /// Waits for the process's "ready": until unshare has run, /proc/&lt;pid&gt;/ns/net is still the host's namespace, and a
    /// veth end plugged into it as eth0 would land on the host (CI saw "File exists" for the host's own eth0).
    /// </summary>
    private void WaitUntilReady()
    {
        var line = _anchor.StandardOutput.ReadLineAsync();
        if (line.Wait(TimeSpan.FromSeconds(10)) && line.Result == "ready")
        {
            return;
        }
        _anchor.Kill(entireProcessTree: true);
        var error = _anchor.StandardError.ReadToEnd();
        Dispose();
        throw new InvalidOperationException($"the workload in {Cgroup} did not start: {error}");
    }

    /// <summary>Runs a command inside the workload (its cgroup, then its namespace) and returns its exit code and output.</summary>
    public Task<(int ExitCode, string Output)> RunAsync(params string[] command) => RunAsync(joinCgroup: true, command);

    /// <summary>
    /// Runs a command in the workload's namespace, in its cgroup or (<paramref name="joinCgroup"/> false) in the test's,
    /// where no cgroup program judges it; returns its exit code and output.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunAsync(bool joinCgroup, params string[] command)
    {
        using var process = StartInside(joinCgroup, command);
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }

    /// <summary>Starts a command in the workload's namespace (and its cgroup when <paramref name="joinCgroup"/>); the caller ends it.</summary>
    public Process StartInside(bool joinCgroup, params string[] command)
    {
        var join = joinCgroup ? "echo $$ > \"$0/cgroup.procs\" && " : "";
        var start = new ProcessStartInfo("sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-c", join + "pid=\"$1\" && shift && exec nsenter -t \"$pid\" -n \"$@\"", Cgroup, Pid.ToString() }.Concat(command))
        {
            start.ArgumentList.Add(argument);
        }
        return Process.Start(start)!;
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
            RemoveCgroup(Cgroup);
        }
    }

    /// <summary>rmdir of a cgroup whose last process just exited can fail with EBUSY for a moment.</summary>
    internal static void RemoveCgroup(string cgroup)
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
}
