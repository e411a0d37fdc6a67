namespace Mesh.Config.Tests;

/// <summary>Files checked into the repository, found by walking up from the test assembly to the repository root.</summary>
internal static class RepositoryFiles
{
    public static string Path(string relativePath)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, relativePath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"{relativePath} not found in any directory above {AppContext.BaseDirectory}");
    }
}
