using Mesh.Testing;
namespace Mesh.Config.Tests;

/// <summary>The example files are user documentation: every one must load as written.</summary>
public class ExampleFilesTests
{
    private readonly MeshConfigLoader _loader = new();

    public static TheoryData<string> Examples() => [.. RepositoryFiles.Files("config/examples", "*.yaml").Select(f => Path.GetFileName(f))];

    [Fact]
    public void Files_ExamplesFolder_HasOneExamplePerL7Feature()
    {
        var names = RepositoryFiles.Files("config/examples", "*.yaml").Select(Path.GetFileName);

        Assert.Superset(new HashSet<string?>(
        [
            "l7-deny-and-headers.yaml", "l7-retries-timeouts.yaml", "l7-circuit-breaker-rate-limit.yaml", "l7-traffic-split.yaml",
            "l7-rewrite-redirect-mirror.yaml", "l7-fault-injection.yaml", "l7-authorization.yaml",
        ]), new HashSet<string?>(names));
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Load_ExampleFile_HasNoErrors(string fileName)
    {
        var result = _loader.Load(RepositoryFiles.FullPath($"config/examples/{fileName}"));

        Assert.Empty(result.Errors);
        Assert.True(result.IsValid);
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Load_L7ExampleFile_EveryServiceWithRulesHasHttpPolicy(string fileName)
    {
        var config = _loader.Load(RepositoryFiles.FullPath($"config/examples/{fileName}")).Config!;

        Assert.All(config.Services.Where(s => s.Rules.Count > 0), s => Assert.True(s.HasHttpPolicy));
        Assert.Equal(fileName.StartsWith("l7-", StringComparison.Ordinal), config.Services.Any(s => s.HasHttpPolicy));
    }
}
