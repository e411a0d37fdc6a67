using System.Runtime.CompilerServices;

namespace Mesh.Testing;

/// <summary>
/// Files checked into the repository, found by walking up to Mesh.sln: from the test's output directory, else from
/// this source file's directory (recorded at compile time), so the tests find them with an artifacts path outside
/// the repository too.
/// </summary>
public static class RepositoryFiles
{
    private static readonly Lazy<string> Root = new(() => FindRoot(AppContext.BaseDirectory) ?? FindRoot(SourceDirectory())
        ?? throw new DirectoryNotFoundException($"no Mesh.sln above {AppContext.BaseDirectory} or {SourceDirectory()}"));

    /// <summary>The files in a checked-in directory that match <paramref name="pattern"/>, sorted by name.</summary>
    public static IReadOnlyList<string> Files(string relativeDirectory, string pattern)
    {
        var directory = Path.Combine(Root.Value, relativeDirectory);
        return Directory.Exists(directory)
            ? [.. Directory.GetFiles(directory, pattern).Order(StringComparer.Ordinal)]
            : throw new DirectoryNotFoundException($"{relativeDirectory} not found under the repository root {Root.Value}");
    }

    public static string FullPath(string relativePath)
    {
        var path = Path.Combine(Root.Value, relativePath);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{relativePath} not found under the repository root {Root.Value}", path);
    }

    private static string? FindRoot(string start)
    {
        for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Mesh.sln")))
            {
                return directory.FullName;
            }
        }
        return null;
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path) ?? "";
}
