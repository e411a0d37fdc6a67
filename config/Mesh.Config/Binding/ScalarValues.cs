using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>
/// Reads single values, reporting a wrong one with what to write instead. A value that is
/// wrong reads as null, so the caller keeps its default and binding goes on to the next key.
/// </summary>
internal static class ScalarValues
{
    /// <summary>
    /// An on/off switch. YAML 1.1's yes/no/y/n are refused: 'n' and 'no' are too easily meant
    /// as strings, and the file should read the same to every YAML tool.
    /// </summary>
    public static bool? ReadSwitch(ConfigNode node, string key, ConfigErrorList errors)
    {
        const string Words = "on, off, true or false";
        if (ExpectScalar(node, key, Words, "off", errors) is not { } scalar)
        {
            return null;
        }
        switch (scalar.Value.ToLowerInvariant())
        {
            case "on" or "true":
                return true;
            case "off" or "false":
                return false;
        }
        errors.Add(scalar, scalar.IsNull
            ? $"'{key}' has no value; write {Words}, or remove the key to use the default"
            : $"'{key}' is '{scalar.Value}', which is not a switch; write {Words}");
        return null;
    }

    /// <summary>An absolute path on the node, such as a cgroup or bpffs directory.</summary>
    /// <param name="example">A path to show in messages.</param>
    /// <param name="defaultValue">What applies when the key is absent, said in words for messages.</param>
    public static string? ReadAbsolutePath(ConfigNode node, string key, string example, string defaultValue, ConfigErrorList errors)
    {
        if (ExpectScalar(node, key, "an absolute path", example, errors) is not { } scalar)
        {
            return null;
        }
        if (scalar.IsNull || string.IsNullOrWhiteSpace(scalar.Value))
        {
            errors.Add(scalar, $"'{key}' is empty; write an absolute path such as {example}, or remove the key to use the default ({defaultValue})");
            return null;
        }
        // Paths are on the Linux node the agent runs on, whatever machine reads the file.
        if (!scalar.Value.StartsWith('/'))
        {
            errors.Add(scalar, $"'{key}' must be an absolute path, but '{scalar.Value}' is relative; write the full path starting with '/', such as {example}");
            return null;
        }
        return scalar.Value;
    }

    private static ScalarNode? ExpectScalar(ConfigNode node, string key, string expected, string example, ConfigErrorList errors)
    {
        if (node is ScalarNode scalar)
        {
            return scalar;
        }
        var name = key[(key.LastIndexOf('.') + 1)..];
        errors.Add(node, $"'{key}' expects {expected}, but found {node.Description}; write a single value on the key's line, such as '{name}: {example}'");
        return null;
    }
}
