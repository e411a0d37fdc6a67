namespace Mesh.Config;

/// <summary>Which config file <see cref="ConfigWatcher"/> watches, and how it waits for writes to settle.</summary>
public sealed class ConfigWatcherOptions
{
    /// <summary>The config file. Its directory must exist; the file itself may come and go.</summary>
    public string Path { get; set; } = "";

    /// <summary>
    /// How long the file must stay unchanged before it is reloaded. Editors save in several steps
    /// (truncate then write, or write a temporary file then rename it), and a reload between two
    /// steps would see a half-written file and report errors that the next step fixes.
    /// </summary>
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(100);
}
