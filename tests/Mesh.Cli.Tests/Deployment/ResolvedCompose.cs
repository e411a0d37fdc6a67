using System.ComponentModel;
using System.Diagnostics;
using Mesh.Testing;
using YamlDotNet.RepresentationModel;

namespace Mesh.Cli.Tests.Deployment;

/// <summary>The repository's compose file alone, and with its offline override, each resolved once for all the tests.</summary>
public sealed class ResolvedComposeFiles
{
    public ResolvedCompose Default { get; } = new("docker-compose.yml");

    public ResolvedCompose Offline { get; } = new("docker-compose.yml", "docker-compose.offline.yml");
}

/// <summary>
/// Compose files of the repository as docker-compose 1.29 resolves them (`docker-compose -f FILE... config`: schema
/// validation, merging, defaults, relative paths made absolute), which needs no Docker daemon.
/// </summary>
public sealed class ResolvedCompose
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    public ResolvedCompose(params string[] files)
    {
        Files = string.Join(" -f ", files.Select(RepositoryFiles.FullPath));
        RepositoryRoot = Path.GetDirectoryName(RepositoryFiles.FullPath(files[0]))!;
        (ExitCode, Output, Errors) = Run("docker-compose", RepositoryRoot, [.. files.SelectMany(file => new[] { "-f", RepositoryFiles.FullPath(file) }), "config"]);
        if (ExitCode == 0)
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(Output));
            Services = (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
        }
    }

    /// <summary>The files, as `-f` names them.</summary>
    public string Files { get; }

    public string RepositoryRoot { get; }

    public int ExitCode { get; }

    public string Output { get; }

    public string Errors { get; }

    private YamlMappingNode? Services { get; }

    /// <summary>One service of the resolved file; fails the test with docker-compose's errors when it refused the file.</summary>
    public YamlMappingNode Service(string name)
    {
        var services = Valid();
        Assert.True(services.Children.ContainsKey(name), $"{Files} has no service '{name}'");
        return Assert.IsType<YamlMappingNode>(services[name]);
    }

    public IReadOnlyList<string> ServiceNames() => [.. Valid().Children.Keys.Select(key => key.ToString())];

    private YamlMappingNode Valid()
    {
        Assert.True(ExitCode == 0, $"docker-compose config exited with {ExitCode}: {Errors}");
        return Services!;
    }

    private static (int ExitCode, string Output, string Errors) Run(string program, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception error)
        {
            throw new InvalidOperationException(
                $"{program} is not installed, and the tests validate docker-compose.yml with it: run `sudo bash .ci/prerequisites`", error);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {Timeout}");
            }
            return (process.ExitCode, output.GetAwaiter().GetResult(), errors.GetAwaiter().GetResult());
        }
    }
}

/// <summary>Reading the resolved file's nodes: docker-compose writes short forms (volumes as "src:dst:mode"), Compose v2 long ones.</summary>
internal static class ComposeNodes
{
    public static string? Scalar(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var value) ? Assert.IsType<YamlScalarNode>(value).Value : null;

    public static YamlNode? Child(this YamlMappingNode node, string key) => node.Children.TryGetValue(key, out var value) ? value : null;

    /// <summary>A list of strings, or a command given as one string (split on spaces).</summary>
    public static IReadOnlyList<string> Strings(this YamlMappingNode node, string key) => node.Child(key) switch
    {
        null => [],
        YamlScalarNode scalar => (scalar.Value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries),
        YamlSequenceNode sequence => [.. sequence.Children.Select(item => Assert.IsType<YamlScalarNode>(item).Value ?? "")],
        var other => throw new InvalidOperationException($"'{key}' is a {other.NodeType}, not a string or a list"),
    };

    /// <summary>Environment variables, given as a map or as a list of NAME=value.</summary>
    public static IReadOnlyDictionary<string, string> Environment(this YamlMappingNode service) => service.Child("environment") switch
    {
        null => new Dictionary<string, string>(),
        YamlMappingNode map => map.Children.ToDictionary(pair => pair.Key.ToString(), pair => pair.Value.ToString()),
        YamlSequenceNode list => list.Children.Select(item => item.ToString().Split('=', 2)).ToDictionary(parts => parts[0], parts => parts.ElementAtOrDefault(1) ?? ""),
        var other => throw new InvalidOperationException($"'environment' is a {other.NodeType}"),
    };

    /// <summary>Bind mounts as (host path, container path, read-only).</summary>
    public static IReadOnlyList<(string Source, string Target, bool ReadOnly)> Binds(this YamlMappingNode service) =>
        service.Child("volumes") is YamlSequenceNode volumes
            ? [.. volumes.Children.Select(volume => volume switch
            {
                YamlScalarNode scalar => ShortBind(scalar.Value ?? ""),
                YamlMappingNode map => (map.Scalar("source") ?? "", map.Scalar("target") ?? "", map.Scalar("read_only") == "true"),
                var other => throw new InvalidOperationException($"a volume is a {other.NodeType}"),
            })]
            : [];

    /// <summary>Published ports as (published, target), from "P:T" strings or {published, target} maps.</summary>
    public static IReadOnlyList<(int Published, int Target)> Ports(this YamlMappingNode service) =>
        service.Child("ports") is YamlSequenceNode ports
            ? [.. ports.Children.Select(port => port switch
            {
                YamlMappingNode map => (int.Parse(map.Scalar("published") ?? "0"), int.Parse(map.Scalar("target") ?? "0")),
                YamlScalarNode scalar => ShortPort(scalar.Value ?? ""),
                var other => throw new InvalidOperationException($"a port is a {other.NodeType}"),
            })]
            : [];

    private static (string, string, bool) ShortBind(string text)
    {
        var parts = text.Split(':');
        return (parts[0], parts.ElementAtOrDefault(1) ?? parts[0], parts.ElementAtOrDefault(2)?.Split(',').Contains("ro") == true);
    }

    private static (int, int) ShortPort(string text)
    {
        var parts = text.Split('/')[0].Split(':');
        return parts.Length > 1 ? (int.Parse(parts[^2]), int.Parse(parts[^1])) : (0, int.Parse(parts[0]));
    }
}
