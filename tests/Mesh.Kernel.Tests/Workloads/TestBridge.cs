using System.Diagnostics;
using System.Net;

namespace Mesh.Kernel.Tests.Workloads;

/// <summary>
/// A bridge with workloads on it, as Docker and most CNIs wire containers: each workload's namespace gets an eth0
/// whose veth peer (the host end) is a port of the bridge. Names and the subnet are unique to this test process.
/// Disposing deletes the bridge and the host ends.
/// </summary>
public sealed class TestBridge : IDisposable
{
    private static int s_sequence;

    private readonly List<string> _hostEnds = [];
    private readonly string _prefix;
    private readonly int _subnet;

    private TestBridge(string name, string prefix, int subnet)
    {
        Name = name;
        _prefix = prefix;
        _subnet = subnet;
    }

    public string Name { get; }

    public static TestBridge Create()
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        var prefix = $"mw{Environment.ProcessId % 100000}x{sequence}";
        var subnet = Environment.ProcessId % 250 + 1;
        var bridge = new TestBridge($"{prefix}br", prefix, subnet);
        try
        {
            Run("ip", "link", "add", bridge.Name, "type", "bridge");
            Run("ip", "addr", "add", $"10.233.{subnet}.1/24", "dev", bridge.Name);
            Run("ip", "link", "set", bridge.Name, "up");
            return bridge;
        }
        catch
        {
            bridge.Dispose();
            throw;
        }
    }

    /// <summary>Plugs the workload in with address 10.233.S.<paramref name="host"/>; returns the address and the host end's name.</summary>
    public (IPAddress Address, string HostEnd) Attach(TestWorkload workload, int host)
    {
        var hostEnd = $"{_prefix}v{host}";
        var address = IPAddress.Parse($"10.233.{_subnet}.{host}");
        Run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", workload.Pid.ToString());
        _hostEnds.Add(hostEnd);
        Run("ip", "link", "set", hostEnd, "master", Name, "up");
        Run("nsenter", "-t", workload.Pid.ToString(), "-n", "ip", "addr", "add", $"{address}/24", "dev", "eth0");
        Run("nsenter", "-t", workload.Pid.ToString(), "-n", "ip", "link", "set", "eth0", "up");
        return (address, hostEnd);
    }

    public void Dispose()
    {
        foreach (var hostEnd in _hostEnds)
        {
            Run("ip", ["link", "del", hostEnd], throwOnError: false);
        }
        Run("ip", ["link", "del", Name], throwOnError: false);
    }

    private static void Run(params string[] command) => Run(command[0], command[1..], throwOnError: true);

    private static void Run(string file, string[] arguments, bool throwOnError)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed: {error.Trim()}");
        }
    }
}
