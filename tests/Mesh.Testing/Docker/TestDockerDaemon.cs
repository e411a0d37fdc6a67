using System.Diagnostics;

namespace Mesh.Testing.Docker;

/// <summary>
/// A real Docker daemon of the tests' own: its own data root, exec root, socket and bridge, with iptables left alone
/// (the machine's FORWARD policy and other tests' bridges stay as they were), and an image built offline
/// <c>FROM scratch</c> with Debian's static busybox (httpd, nc, wget, sleep). Disposing removes all of it.
/// </summary>
public sealed class TestDockerDaemon : IAsyncDisposable
{
    public const string Image = "mesh-test-busybox:1";
    private static int s_sequence;

    private readonly string _root;
    private readonly string _cgroupParent;
    private readonly bool _ownsCgroupParent;
    private Process? _daemon;

    private TestDockerDaemon(string root, string bridge, string subnetPrefix, string cgroupParent, bool ownsCgroupParent)
    {
        _root = root;
        Bridge = bridge;
        SubnetPrefix = subnetPrefix;
        _cgroupParent = cgroupParent;
        _ownsCgroupParent = ownsCgroupParent;
    }

    /// <summary>The daemon's Engine API socket.</summary>
    public string Socket => Path.Combine(_root, "docker.sock");

    /// <summary>The bridge its containers attach to by default.</summary>
    public string Bridge { get; }

    /// <summary>The bridge's /24, such as "10.241.7": the bridge is .1, containers get the addresses after it.</summary>
    public string SubnetPrefix { get; }

    /// <summary>
    /// Starts a daemon and builds <see cref="Image"/> in it. With <paramref name="cgroupParent"/>, a cgroup path from the
    /// hierarchy's root such as /mesh-test-1 (made by the caller), its containers' cgroups are made below it; without,
    /// below a parent of the daemon's own (not /docker, which a node's own dockerd uses), removed with it.
    /// </summary>
    public static async Task<TestDockerDaemon> StartAsync(string? cgroupParent = null)
    {
        var sequence = Interlocked.Increment(ref s_sequence);
        var id = $"{Environment.ProcessId % 100000}{sequence}";
        var root = Path.Combine(Path.GetTempPath(), $"mesh-test-docker-{id}");
        // Subnets in 10.240.0.0/12 apart from the namespace tests' 10.231.0.0/16; one /24 per daemon of this process.
        var daemon = new TestDockerDaemon(root, $"mtd{id}", $"10.{240 + Environment.ProcessId % 8}.{(Environment.ProcessId / 8 + sequence) % 250}",
            cgroupParent ?? $"/mesh-test-docker-{id}", ownsCgroupParent: cgroupParent is null);
        try
        {
            Directory.CreateDirectory(root);
            await ProcessRunner.RunAsync("ip", $"link add {daemon.Bridge} type bridge");
            await ProcessRunner.RunAsync("ip", $"addr add {daemon.SubnetPrefix}.1/24 dev {daemon.Bridge}");
            await ProcessRunner.RunAsync("ip", $"link set {daemon.Bridge} up");
            await daemon.StartDaemonAsync();
            await daemon.BuildImageAsync();
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs the docker CLI against this daemon and returns its output.</summary>
    public Task<string> DockerAsync(string arguments) => ProcessRunner.RunAsync("docker", $"-H unix://{Socket} {arguments}");

    /// <summary>Runs a container from <see cref="Image"/> in the background and returns its id.</summary>
    public async Task<string> RunAsync(string options, string command) => (await DockerAsync($"run -d {options} {Image} {command}")).Trim();

    /// <summary>The container's address on the default bridge.</summary>
    public async Task<string> AddressOfAsync(string container) =>
        (await DockerAsync($"inspect -f {{{{.NetworkSettings.IPAddress}}}} {container}")).Trim();

    /// <summary>Stops the daemon (its containers stop with it), then starts it again on the same roots.</summary>
    public async Task RestartAsync()
    {
        await StopDaemonAsync();
        await StartDaemonAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_daemon is not null)
        {
            foreach (var container in (await ProcessRunner.TryRunAsync("docker", $"-H unix://{Socket} ps -aq")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                await ProcessRunner.TryRunAsync("docker", $"-H unix://{Socket} rm -f -v {container}");
            }
            // Networks a test made (docker network create, compose): their bridges would outlive the daemon.
            await ProcessRunner.TryRunAsync("docker", $"-H unix://{Socket} network prune -f");
            await StopDaemonAsync();
        }
        await ProcessRunner.TryRunAsync("ip", $"link del {Bridge}");
        // The daemon unmounts its overlays on a clean stop; whatever is left mounted is unmounted before the tree goes.
        foreach (var mount in File.ReadAllLines("/proc/mounts").Select(line => line.Split(' ')[1]).Where(m => m.StartsWith(_root, StringComparison.Ordinal)).Reverse())
        {
            await ProcessRunner.TryRunAsync("umount", $"-l {mount}");
        }
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
        RemoveCgroupParents();
    }

    private async Task StartDaemonAsync()
    {
        var arguments = string.Join(' ',
            $"--data-root {_root}/data --exec-root {_root}/exec --pidfile {_root}/dockerd.pid -H unix://{Socket}",
            $"--bridge {Bridge} --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false",
            $"--default-address-pool base=10.{248 + Environment.ProcessId % 8}.0.0/16,size=24",
            $"--cgroup-parent {_cgroupParent}");
        _daemon = Process.Start(new ProcessStartInfo("dockerd", arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("dockerd did not start");
        _daemon.OutputDataReceived += (_, _) => { };
        _daemon.ErrorDataReceived += (_, _) => { };
        _daemon.BeginOutputReadLine();
        _daemon.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (!(await ProcessRunner.TryRunAsync("docker", $"-H unix://{Socket} version -f {{{{.Server.Version}}}}")).Contains('.'))
        {
            if (_daemon.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"dockerd {arguments} did not answer within 30 s (exit code {(_daemon.HasExited ? _daemon.ExitCode : null)})");
            }
            await Task.Delay(100);
        }
    }

    private async Task StopDaemonAsync()
    {
        if (_daemon is null)
        {
            return;
        }
        if (!_daemon.HasExited)
        {
            // SIGTERM: the daemon stops its containers and containerd and unmounts its layers (SIGKILL would leave them).
            await ProcessRunner.TryRunAsync("kill", $"-TERM {_daemon.Id}");
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _daemon.WaitForExitAsync(timeout.Token);
        _daemon.Dispose();
        _daemon = null;
    }

    /// <summary>
    /// runc makes the parent in every hierarchy (v1 ones too, on a hybrid host) and leaves it there when its last
    /// container goes; the v2 one is the caller's unless the daemon chose it. Only an empty directory can go (rmdir), so
    /// nothing live is touched.
    /// </summary>
    private void RemoveCgroupParents()
    {
        foreach (var hierarchy in File.ReadAllLines("/proc/mounts").Select(line => line.Split(' '))
            .Where(fields => fields[2] == "cgroup" || (_ownsCgroupParent && fields[2] == "cgroup2")).Select(fields => fields[1]))
        {
            var parent = hierarchy + _cgroupParent;
            if (Directory.Exists(parent))
            {
                Directory.Delete(parent);
            }
        }
    }

    private async Task BuildImageAsync()
    {
        var context = Path.Combine(_root, "image");
        Directory.CreateDirectory(Path.Combine(context, "bin"));
        File.Copy("/bin/busybox", Path.Combine(context, "bin", "busybox"));
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY bin/ /bin/\nENTRYPOINT [\"/bin/busybox\"]\n");
        await DockerAsync($"build -q -t {Image} {context}");
    }
}
