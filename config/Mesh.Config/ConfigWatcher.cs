using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Config;

/// <summary>
/// Keeps the config in step with its file: reloads it whenever it changes and reports the new
/// config, or the errors of an invalid edit while the last good config stays in effect.
/// </summary>
/// <remarks>
/// The watch is on the file's directory, not the file: editors that save by writing a new file
/// and renaming it over the old one replace the file, and a watch on the old one would go quiet.
/// </remarks>
public sealed partial class ConfigWatcher : IDisposable
{
    private readonly string _path;
    private readonly string _directory;
    private readonly string _fileName;
    private readonly TimeSpan _debounce;
    private readonly MeshConfigLoader _loader;
    private readonly ILogger<ConfigWatcher> _logger;
    private readonly Timer _debounceTimer;
    // Reloads run one at a time, so Current and the events follow the file's order of edits.
    private readonly Lock _reloadLock = new();
    // Guards the timer against being re-armed while it is disposed.
    private readonly Lock _timerLock = new();
    private FileSystemWatcher? _fileWatcher;
    private volatile MeshConfig? _current;
    private volatile bool _disposed;

    public ConfigWatcher(IOptions<ConfigWatcherOptions> options, MeshConfigLoader loader, ILogger<ConfigWatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loader);
        ArgumentNullException.ThrowIfNull(logger);
        var settings = options.Value;
        if (string.IsNullOrWhiteSpace(settings.Path))
        {
            throw new ArgumentException($"{nameof(ConfigWatcherOptions)}.{nameof(ConfigWatcherOptions.Path)} must name the config file", nameof(options));
        }
        if (settings.Debounce < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(ConfigWatcherOptions)}.{nameof(ConfigWatcherOptions.Debounce)} must not be negative", nameof(options));
        }

        _path = Path.GetFullPath(settings.Path);
        _directory = Path.GetDirectoryName(_path)!;
        _fileName = Path.GetFileName(_path);
        _debounce = settings.Debounce;
        _loader = loader;
        _logger = logger;
        _debounceTimer = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The last valid config read from the file; null until one has been.</summary>
    public MeshConfig? Current => _current;

    /// <summary>
    /// Raised after an edit that leaves the file valid, once <see cref="Current"/> is the new
    /// config. Handlers run on a thread-pool thread, one reload at a time; an exception escaping
    /// one is unhandled there and ends the process, so handlers catch their own.
    /// </summary>
    public event EventHandler<MeshConfig>? Changed;

    /// <summary>
    /// Raised after an edit that leaves the file invalid (or missing), with every error found;
    /// <see cref="Current"/> keeps the last good config. Runs like <see cref="Changed"/>.
    /// </summary>
    public event EventHandler<IReadOnlyList<ConfigError>>? Rejected;

    /// <summary>
    /// Loads the file and starts watching it. The result is returned rather than raised as an
    /// event, so the caller can refuse to start on an invalid file. The watch begins before the
    /// load, so an edit made in between is not missed.
    /// </summary>
    public ConfigResult Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_reloadLock)
        {
            if (_fileWatcher is not null)
            {
                throw new InvalidOperationException($"the watch on {_path} is already started");
            }
            var fileWatcher = new FileSystemWatcher(_directory) { IncludeSubdirectories = false };
            fileWatcher.Changed += OnFileEvent;
            fileWatcher.Created += OnFileEvent;
            fileWatcher.Deleted += OnFileEvent;
            fileWatcher.Renamed += OnFileEvent;
            fileWatcher.Error += OnWatchError;
            try
            {
                fileWatcher.EnableRaisingEvents = true;
            }
            catch
            {
                // Typically the inotify watch limit; nothing is watched, so nothing should be left open.
                fileWatcher.Dispose();
                throw;
            }
            _fileWatcher = fileWatcher;

            var result = _loader.Load(_path);
            if (result.IsValid)
            {
                _current = result.Config;
                Log.Loaded(_logger, _path);
            }
            else
            {
                LogErrors(result.Errors);
            }
            return result;
        }
    }

    /// <summary>Stops watching; no event is raised after this returns, except by a reload already under way.</summary>
    public void Dispose()
    {
        lock (_timerLock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _debounceTimer.Dispose();
        }
        _fileWatcher?.Dispose();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        // A rename away from the file's name counts too: the file is gone until another takes its place.
        if (e.Name == _fileName || (e is RenamedEventArgs renamed && renamed.OldName == _fileName))
        {
            ScheduleReload();
        }
    }

    private void OnWatchError(object sender, ErrorEventArgs e)
    {
        // Usually an overflowed event queue: edits may have gone unseen, so read the file again.
        Log.WatchFailed(_logger, _directory, e.GetException());
        ScheduleReload();
    }

    private void ScheduleReload()
    {
        lock (_timerLock)
        {
            if (!_disposed)
            {
                _debounceTimer.Change(_debounce, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>
    /// Reads the file now, as an edit would (e.g. asked through the agent's admin API), and returns what it found:
    /// a valid config is applied (<see cref="Changed"/>), an invalid one is rejected and the current one kept.
    /// </summary>
    public ConfigResult ReloadNow() => Reload() ?? throw new ObjectDisposedException(nameof(ConfigWatcher));

    private ConfigResult? Reload()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return null;
            }
            var result = _loader.Load(_path);
            if (result.IsValid)
            {
                _current = result.Config;
                Log.Reloaded(_logger, _path);
                Changed?.Invoke(this, result.Config);
            }
            else
            {
                LogErrors(result.Errors);
                Log.Rejected(_logger, _path, result.Errors.Count);
                Rejected?.Invoke(this, result.Errors);
            }
            return result;
        }
    }

    private void LogErrors(IReadOnlyList<ConfigError> errors)
    {
        foreach (var error in errors)
        {
            Log.InvalidConfig(_logger, error.File, error.Line, error.Column, error.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, EventName = "ConfigLoaded", Level = LogLevel.Information, Message = "Loaded config {Path}")]
        public static partial void Loaded(ILogger logger, string path);

        [LoggerMessage(EventId = 2, EventName = "ConfigReloaded", Level = LogLevel.Information, Message = "Reloaded config {Path} after a change")]
        public static partial void Reloaded(ILogger logger, string path);

        [LoggerMessage(EventId = 3, EventName = "ConfigError", Level = LogLevel.Warning, Message = "{File}:{Line}:{Column}: {ErrorMessage}")]
        public static partial void InvalidConfig(ILogger logger, string file, int line, int column, string errorMessage);

        [LoggerMessage(EventId = 4, EventName = "ConfigRejected", Level = LogLevel.Warning,
            Message = "Rejected the edit to {Path} with {ErrorCount} error(s); the config in effect is unchanged")]
        public static partial void Rejected(ILogger logger, string path, int errorCount);

        [LoggerMessage(EventId = 5, EventName = "ConfigWatchFailed", Level = LogLevel.Warning,
            Message = "Watching {Directory} failed; reading the config again in case edits were missed")]
        public static partial void WatchFailed(ILogger logger, string directory, Exception exception);
    }
}
