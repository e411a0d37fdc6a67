using Mesh.Config.Binding;
using Mesh.Config.Syntax;
using YamlDotNet.Core;

namespace Mesh.Config;

/// <summary>
/// Reads the node agent's YAML config file into a <see cref="MeshConfig"/>, or into every error
/// found in it, each at the line and column of the node that is wrong.
/// </summary>
public sealed class MeshConfigLoader
{
    private readonly ConfigNodeReader _reader = new();
    private readonly MeshConfigBinder _binder = new(new AgentSettingsBinder(), new DiscoveryBinder(), new ServicesBinder(), new L4PolicyBinder(), new TelemetryBinder(), new ProxySettingsBinder(), new WorkloadsBinder());

    /// <summary>Reads and parses the file; a file that cannot be read is an error at line 0, column 0.</summary>
    public ConfigResult Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return FileError(path, "config file not found; create it (an empty file means all defaults) or pass the path of an existing file");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return FileError(path, $"cannot read the config file ({ex.Message}); make it a file the agent can read");
        }
        return Parse(text, path);
    }

    /// <param name="yamlText">The file's contents.</param>
    /// <param name="fileName">The name errors are reported against.</param>
    public ConfigResult Parse(string yamlText, string fileName)
    {
        ArgumentNullException.ThrowIfNull(yamlText);
        ArgumentNullException.ThrowIfNull(fileName);
        var errors = new ConfigErrorList(fileName);
        ConfigNode? root;
        try
        {
            root = _reader.Read(yamlText, errors);
        }
        catch (YamlException ex)
        {
            // Past a syntax error the parser cannot tell what was meant, so this is the only error reported.
            return ConfigResult.Failure([SyntaxError(ex, fileName)]);
        }
        return errors.ToResult(_binder.Bind(root, errors));
    }

    private ConfigError SyntaxError(YamlException ex, string fileName)
    {
        var message = ex.Message.TrimEnd('.');
        if (message.Length > 0)
        {
            // YamlDotNet's messages start a sentence; here they follow "invalid YAML: ".
            message = char.ToLowerInvariant(message[0]) + message[1..];
        }
        if (ex is not AnchorNotFoundException)
        {
            message += "; check the indentation, and quote values that contain ': ', ' #', '[' or '{'";
        }
        return new ConfigError(fileName, checked((int)ex.Start.Line), checked((int)ex.Start.Column), $"invalid YAML: {message}");
    }

    private ConfigResult FileError(string path, string message) => ConfigResult.Failure([new ConfigError(path, 0, 0, message)]);
}
