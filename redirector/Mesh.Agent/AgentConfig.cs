using Mesh.Config;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Agent;

/// <summary>
/// The agent's config source: the file given with --config, watched and hot-reloaded, or the
/// built-in config/mesh.yaml embedded in this program.
/// </summary>
public sealed class AgentConfig : IDisposable
{
    private const string BuiltInName = "built-in mesh.yaml";

    private readonly ConfigWatcher? _watcher;

    private AgentConfig(MeshConfig initial, string description, ConfigWatcher? watcher)
    {
        Initial = initial;
        Description = description;
        _watcher = watcher;
    }

    public MeshConfig Initial { get; }

    public string Description { get; }

    /// <summary>Raised with each valid edit of the watched file.</summary>
    public event EventHandler<MeshConfig>? Changed
    {
        add { if (_watcher is not null) _watcher.Changed += value; }
        remove { if (_watcher is not null) _watcher.Changed -= value; }
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
