using Mesh.Kernel.Tests.Agent;
using Mesh.Testing;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>
/// The repository's compose files as one docker-compose 1.29 project on a test's Docker daemon (DOCKER_HOST), under a
/// project name of its own. Disposing takes the project down with its images, also after a failure.
/// </summary>
public sealed class ComposeProject(string dockerSocket, IReadOnlyList<string> composeFiles) : IAsyncDisposable
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(4);

    /// <summary>Also the prefix of the names of its containers and network.</summary>
    public string Name { get; } = $"meshtest{Environment.ProcessId}";

    /// <summary>`up -d --build`: builds the images the files build, then starts the services of the default profile.</summary>
    public Task<CliResult> UpAsync() => RunAsync(BuildTimeout, "up", "-d", "--build");

    /// <summary>`down`, removing its containers, network and every image of its services.</summary>
    public Task<CliResult> DownAsync() => RunAsync(MeshCli.DefaultTimeout, "down", "--rmi", "all", "--volumes", "--remove-orphans");

    /// <summary>What a service's containers printed so far.</summary>
    public async Task<string> LogsAsync(string service) => (await RunAsync(MeshCli.DefaultTimeout, "logs", "--no-color", service)).StdOut;

    /// <summary>The full id of the service's container, which names its cgroup.</summary>
    public async Task<string> ContainerIdAsync(string service) => (await RunAsync(MeshCli.DefaultTimeout, "ps", "-q", service)).StdOut.Trim();

    public async ValueTask DisposeAsync() => await DownAsync();

    private Task<CliResult> RunAsync(TimeSpan timeout, params string[] command) =>
        MeshCli.ExecAsync("env", [$"DOCKER_HOST=unix://{dockerSocket}", "docker-compose", "-p", Name, .. composeFiles.SelectMany(file => new[] { "-f", RepositoryFiles.FullPath(file) }), .. command], timeout);
}
