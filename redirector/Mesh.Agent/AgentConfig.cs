using Mesh.Agent.Discovery;
using Mesh.Config;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Agent;

/// <summary>
/// The agent's config: the file given with --config, watched and hot-reloaded, or the built-in config/mesh.yaml
/// embedded in this program; with the endpoints that discovery finds for the services that select containers.
/// </summary>
public sealed class AgentConfig : IDisposable
{
    private const string BuiltInName = "built-in mesh.yaml";

    private readonly ConfigWatcher? _watcher;
    private readonly Lock _compose = new();
    private MeshConfig _file;
    private IReadOnlyList<DiscoveredContainer> _containers = [];

    private AgentConfig(MeshConfig initial, string description, ConfigWatcher? watcher)
    {
        _file = initial;
        Current = initial;
        Description = description;
        _watcher = watcher;
        if (_watcher is not null)
        {
            _watcher.Changed += (_, edited) => Compose(edited, _containers);
        }
    }

    /// <summary>The config in effect now: read it once at start, then follow <see cref="Changed"/>.</summary>
    public MeshConfig Current { get; private set; }

    public string Description { get; }

    /// <summary>Raised, one at a time and in order, with each config that differs from the last: a valid edit, or new endpoints found.</summary>
    public event EventHandler<MeshConfig>? Changed;

    /// <summary>The containers running now, as discovery last listed them.</summary>
    public IReadOnlyList<DiscoveredContainer> Containers => _containers;

    /// <summary>Raised, one at a time and in order, with each listing of the containers discovery publishes (their labels are workloads' identities).</summary>
    public event EventHandler<IReadOnlyList<DiscoveredContainer>>? ContainersChanged;

    /// <summary>Discovery's current containers; the selecting services' endpoints and the workloads' labels follow them.</summary>
    public void ApplyDiscovered(IReadOnlyList<DiscoveredContainer> containers) => Compose(_file, containers, discovered: true);

    private void Compose(MeshConfig file, IReadOnlyList<DiscoveredContainer> containers, bool discovered = false)
    {
        lock (_compose)
        {
            _file = file;
            _containers = containers;
            if (discovered)
            {
                ContainersChanged?.Invoke(this, containers);
            }
            var effective = SelectedEndpoints.Apply(file, containers);
            if (effective == Current)
            {
                return;
            }
            Current = effective;
            Changed?.Invoke(this, effective);
        }
    }

    /// <summary>Loads the config and starts watching its file; throws <see cref="InvalidConfigException"/> with every error of an invalid one.</summary>
    public static AgentConfig Open(FileInfo? file, ILoggerFactory loggerFactory)
    {
        var loader = new MeshConfigLoader();
        if (file is null)
        {
            var builtIn = loader.Parse(ReadBuiltIn(), BuiltInName);
            return builtIn.IsValid ? new AgentConfig(builtIn.Config, BuiltInName, watcher: null) : throw new InvalidConfigException(builtIn.Errors);
        }
        var watcher = new ConfigWatcher(Options.Create(new ConfigWatcherOptions { Path = file.FullName }), loader, loggerFactory.CreateLogger<ConfigWatcher>());
        var result = watcher.Start();
        if (!result.IsValid)
        {
            watcher.Dispose();
            throw new InvalidConfigException(result.Errors);
        }
        return new AgentConfig(result.Config, file.FullName, watcher);
    }

    /// <summary>Re-reads the watched file now (applying it when valid); null for the built-in config, which has no file.</summary>
    public ConfigResult? ReloadNow() => _watcher?.ReloadNow();

    public void Dispose() => _watcher?.Dispose();

    private static string ReadBuiltIn()
    {
        using var stream = typeof(AgentConfig).Assembly.GetManifestResourceStream("mesh.yaml")
            ?? throw new InvalidOperationException("the built-in mesh.yaml is missing from this build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>The config cannot be used; <see cref="Errors"/> say where and what to write instead.</summary>
public sealed class InvalidConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(string.Join(Environment.NewLine, errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}
