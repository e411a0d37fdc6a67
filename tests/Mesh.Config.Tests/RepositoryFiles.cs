using System.Reflection;

namespace Mesh.Config.Tests;

/// <summary>
/// Files checked into the repository, found from the repository root recorded at build time, so
/// the tests find them wherever the build output goes (an artifacts path outside the repository too).
/// </summary>
internal static class RepositoryFiles
{
    private static readonly string Root = typeof(RepositoryFiles).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value
        ?? throw new InvalidOperationException("the test assembly has no RepositoryRoot metadata");

    public static string Path(string relativePath)
    {
        var path = System.IO.Path.Combine(Root, relativePath);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{relativePath} not found under the repository root {Root}", path);
    }

    /// <summary>The files in a checked-in directory that match <paramref name="pattern"/>, sorted by name.</summary>
    public static IReadOnlyList<string> Files(string relativeDirectory, string pattern)
    {
        var directory = System.IO.Path.Combine(Root, relativeDirectory);
        return Directory.Exists(directory)
            ? [.. Directory.GetFiles(directory, pattern).Order(StringComparer.Ordinal)]
            : throw new DirectoryNotFoundException($"{relativeDirectory} not found under the repository root {Root}");
    }
}
