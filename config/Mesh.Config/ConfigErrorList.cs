using Mesh.Config.Syntax;

namespace Mesh.Config;

/// <summary>
/// Collects the errors of one file while it is read, so that one pass reports every mistake
/// instead of making the user fix them one reload at a time.
/// </summary>
internal sealed class ConfigErrorList
{
    private readonly string _file;
    private readonly List<ConfigError> _errors = [];

    public ConfigErrorList(string file)
    {
        _file = file;
    }

    /// <summary>How many errors so far; binders compare it before and after a part to tell whether that part was valid.</summary>
    public int Count => _errors.Count;

    public void Add(ConfigNode at, string message) => Add(at.Line, at.Column, message);

    public void Add(int line, int column, string message) => _errors.Add(new ConfigError(_file, line, column, message));

    /// <summary>The config when nothing was wrong, otherwise the errors in file order.</summary>
    public ConfigResult ToResult(MeshConfig config) =>
        _errors.Count == 0
            ? ConfigResult.Success(config)
            : ConfigResult.Failure([.. _errors.OrderBy(e => e.Line).ThenBy(e => e.Column)]);
}
