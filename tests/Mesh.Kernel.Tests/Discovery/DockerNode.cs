using System.Diagnostics;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Mesh.Kernel.Tests.Workloads;
using Mesh.Testing;
using Mesh.Testing.Docker;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// A node as a team running containers has one: `mesh run --run-as root` following the tests' own Docker daemon, and
/// containers started below the agent's cgroup (--cgroup-parent), so each is a workload the agent serves and, when its
/// labels are selected, an endpoint of a service. Disposing removes the containers and the cgroups runc made for them
/// in every hierarchy, then the agent's sandbox and the config.
/// </summary>
public sealed class DockerNode : IAsyncDisposable
{
    private readonly TestDockerDaemon _docker;
    private readonly string _configFile;
    private readonly List<string> _containers = [];

    private DockerNode(TestDockerDaemon docker, AgentSandbox sandbox, string configFile)
    {
        _docker = docker;
        Sandbox = sandbox;
        _configFile = configFile;
        Admin = new AgentAdmin(sandbox.PinDirectory);
    }

    public AgentSandbox Sandbox { get; }

    public AgentAdmin Admin { get; }

    public AgentProcess Agent { get; private set; } = null!;

    /// <summary>Starts the agent with <paramref name="services"/> (the YAML items of its services list) and Docker discovery on.</summary>
    public static async Task<DockerNode> StartAsync(TestDockerDaemon docker, string label, string services)
    {
        var sandbox = AgentSandbox.Create(label);
        var node = new DockerNode(docker, sandbox, Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml"));
        try
        {
            await File.WriteAllTextAsync(node._configFile, $"discovery:\n  docker: {{ socket: {docker.Socket} }}\nservices:\n{services}");
            // Root: the Docker socket is root's, and the unprivileged agent does not keep it.
            node.Agent = await sandbox.StartAgentAsync("--config", node._configFile, "--run-as", "root", "--proxy-port", LoopbackPair.FreePort().ToString());
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>The cgroup runc gives the container in the hierarchy the agent serves.</summary>
    public string CgroupOf(string container) => Path.Combine(Sandbox.CgroupPath, container);

    /// <summary>Runs a container below the agent's cgroup and returns its full id.</summary>
    public async Task<string> RunAsync(string options, string command)
    {
        var id = await _docker.RunAsync($"--cgroup-parent /{Sandbox.Name} {options}", command);
        _containers.Add(id);
        return id;
    }

    /// <summary>A replica of the service that selects <paramref name="serviceLabel"/>: busybox httpd on port 80 answering its <paramref name="name"/>.</summary>
    public Task<string> RunReplicaAsync(string serviceLabel, string name) =>
        RunAsync($"-l mesh.service={serviceLabel}", $"sh -c \"busybox mkdir /www && echo {name} > /www/index.html && exec busybox httpd -f -p 80 -h /www\"");

    /// <summary>A container that only sleeps, for requests run in it with docker exec.</summary>
    public async Task<ContainerClient> RunClientAsync() => new(_docker, await RunAsync("", "sleep 600"));

    /// <summary>docker rm -f: the containers are killed and gone, as when a service is scaled down.</summary>
    public async Task RemoveAsync(params IReadOnlyCollection<string> containers)
    {
        await _docker.DockerAsync($"rm -f {string.Join(' ', containers)}");
        _containers.RemoveAll(containers.Contains);
    }

    /// <summary>
    /// Waits until the agent serves each container as a workload at its address on the bridge: the splice knows a
    /// namespace's peers by its addresses, which Docker configures after the container's first process starts.
    /// </summary>
    public async Task WaitServedAsync(IEnumerable<string> containers, TimeSpan within)
    {
        foreach (var container in containers)
        {
            var (cgroup, address) = (CgroupOf(container), await _docker.AddressOfAsync(container));
            var clock = Stopwatch.StartNew();
            while ((await Admin.StatusAsync()).Workloads?.FirstOrDefault(w => w.Cgroup == cgroup) is not { } workload || !workload.Addresses.Contains(address))
            {
                Assert.True(clock.Elapsed < within, $"container {container[..12]} is not served at {address} after {clock.ElapsedMilliseconds} ms: "
                    + ((await Admin.StatusAsync()).Workloads?.FirstOrDefault(w => w.Cgroup == cgroup) is { } listed ? $"listed at [{string.Join(", ", listed.Addresses)}]" : "not listed"));
                await Task.Delay(10);
            }
        }
    }

    /// <summary>Waits until the agent translates <paramref name="service"/> to exactly <paramref name="count"/> healthy endpoints; returns them.</summary>
    public async Task<IReadOnlyList<string>> WaitForEndpointsAsync(string service, int count, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var endpoints = (await Admin.StatusAsync()).Services?.SingleOrDefault(s => s.Name == service)?.Endpoints.Where(e => e.Healthy).Select(e => e.EndPoint).ToList() ?? [];
            if (endpoints.Count == count)
            {
                return endpoints;
            }
            Assert.True(clock.Elapsed < within, $"{service}: {endpoints.Count} endpoint(s) [{string.Join(", ", endpoints)}] after {clock.ElapsedMilliseconds} ms, expected {count}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_containers.Count > 0)
        {
            await ProcessRunner.TryRunAsync("docker", $"-H unix://{_docker.Socket} rm -f -v {string.Join(' ', _containers)}");
        }
        Admin.Dispose();
        try
        {
            RemoveRuncParents();
        }
        finally
        {
            Sandbox.Dispose();
            File.Delete(_configFile);
        }
    }

    /// <summary>runc removes a container's cgroups with it, but not the parent it made in each v1 hierarchy.</summary>
    private void RemoveRuncParents()
    {
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var parent = Path.Combine(hierarchy, Sandbox.Name);
            if (parent != Sandbox.CgroupPath)
            {
                TestWorkload.RemoveCgroup(parent);
            }
        }
    }
}
