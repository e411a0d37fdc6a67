namespace Mesh.Config.Tests;

/// <summary>Parses YAML text the way the tests of the services section need: valid, or with the errors expected.</summary>
internal static class ConfigParsing
{
    public const string FileName = "mesh.yaml";

    private static readonly MeshConfigLoader Loader = new();

    public static MeshConfig Valid(string yaml)
    {
        var result = Loader.Parse(yaml, FileName);
        Assert.Empty(result.Errors);
        Assert.True(result.IsValid);
        return result.Config;
    }

    public static ConfigError SingleError(string yaml)
    {
        var result = Loader.Parse(yaml, FileName);
        Assert.False(result.IsValid);
        Assert.Null(result.Config);
        return Assert.Single(result.Errors);
    }

    public static IReadOnlyList<ConfigError> Errors(string yaml)
    {
        var result = Loader.Parse(yaml, FileName);
        Assert.False(result.IsValid);
        return result.Errors;
    }

    /// <summary>Asserts the error's position, and that its message contains each of <paramref name="parts"/>.</summary>
    public static void AssertError(ConfigError error, int line, int column, params string[] parts)
    {
        Assert.Equal((line, column), (error.Line, error.Column));
        foreach (var part in parts)
        {
            Assert.Contains(part, error.Message);
        }
    }
}
