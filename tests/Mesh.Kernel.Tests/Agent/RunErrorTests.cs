using System.Text.RegularExpressions;
using Mesh.Datapath.Programs;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// `mesh run` refusing bad input: exactly one line `mesh: error: ...` on stderr that says what is
/// wrong, a non-zero exit, and nothing attached to the cgroup, pinned or recorded as running.
/// </summary>
public sealed partial class RunErrorTests
{
    private const string Prefix = "mesh: error: ";

    [Fact]
    public async Task UnknownFlag_OneLineError()
    {
        using var sandbox = AgentSandbox.Create("bogus");

        var run = await MeshCli.RunAsync(["run", .. sandbox.Scope, "--bogus"], wrapper: null, MeshCli.DefaultTimeout);

        AssertOneLineError(run, "--bogus");
        await sandbox.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task MissingConfigFile_OneLineError()
    {
        using var sandbox = AgentSandbox.Create("noconfig");
        const string config = "/nonexistent.yaml";

        var run = await MeshCli.RunAsync(["run", "--config", config, .. sandbox.Scope], wrapper: null, MeshCli.DefaultTimeout);

        AssertOneLineError(run, config);
        await sandbox.AssertNothingLeftAsync();
    }

    /// <summary>An invalid config refuses to start: every error as file:line:column, then the one summary line.</summary>
    [Fact]
    public async Task InvalidConfig_ListsEachErrorWithLineAndColumnAndAttachesNothing()
    {
        using var sandbox = AgentSandbox.Create("badconfig");
        var config = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        await File.WriteAllTextAsync(config, "splice: maybe\nservices:\n  - name: web\n    address: 127.0.0.10\n    port: 70000\n");
        try
        {
            var run = await MeshCli.RunAsync(["run", "--config", config, .. sandbox.Scope], wrapper: null, MeshCli.DefaultTimeout);

            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains(run.ErrorLines, line => line.StartsWith($"{config}:1:9: ", StringComparison.Ordinal));
            Assert.Contains(run.ErrorLines, line => line.StartsWith($"{config}:5:11: ", StringComparison.Ordinal));
            Assert.Equal($"{Prefix}the config has 2 error(s); nothing was attached", run.ErrorLines[^1]);
            await sandbox.AssertNothingLeftAsync();
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task CgroupThatDoesNotExist_OneLineError()
    {
        using var sandbox = AgentSandbox.Create("nocgroup");
        var missing = Path.Combine(sandbox.CgroupPath, "does-not-exist");

        var run = await MeshCli.RunAsync(["run", "--cgroup", missing, "--pin-dir", sandbox.PinDirectory], wrapper: null, MeshCli.DefaultTimeout);

        AssertOneLineError(run, missing);
        Assert.False(Directory.Exists(missing), $"mesh run created the cgroup {missing} it was told to use");
        await sandbox.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task CgroupPathThatIsNotCgroupV2_OneLineError()
    {
        using var sandbox = AgentSandbox.Create("notv2");
        var plain = Directory.CreateTempSubdirectory("mesh-test-not-a-cgroup-").FullName;
        try
        {
            var run = await MeshCli.RunAsync(["run", "--cgroup", plain, "--pin-dir", sandbox.PinDirectory], wrapper: null, MeshCli.DefaultTimeout);

            AssertOneLineError(run, plain);
            await sandbox.AssertNothingLeftAsync();
        }
        finally
        {
            Directory.Delete(plain, recursive: true);
        }
    }

    [Fact]
    public async Task VerifierRefusesProgram_OneLineErrorNamingTheVerifierLog()
    {
        using var sandbox = AgentSandbox.Create("verifier");
        using var broken = await BrokenBpfObjects.BuildAsync();

        var run = await MeshCli.RunAsync(["run", "--bpf-dir", broken.Directory, .. sandbox.Scope], wrapper: null, MeshCli.DefaultTimeout);

        AssertOneLineError(run, "sockops.bpf.o");
        var line = run.ErrorLines[0];
        var logFile = LogFilePath().Match(line);
        Assert.True(logFile.Success, $"the error does not name the verifier log file: {line}");
        Assert.True(File.Exists(logFile.Value), $"the verifier log {logFile.Value} named by the error does not exist");
        var log = await File.ReadAllTextAsync(logFile.Value);
        Assert.True(log.Contains(BrokenBpfObjects.VerifierReason, StringComparison.Ordinal) && log.Contains(SpliceDatapath.SockOpsProgram, StringComparison.Ordinal),
            $"{logFile.Value} lacks the verifier's reason '{BrokenBpfObjects.VerifierReason}' for {SpliceDatapath.SockOpsProgram}:{Environment.NewLine}{log}");
        // The test runs as root: a refusal by the verifier must not be blamed on missing privileges.
        Assert.False(Regex.IsMatch(line, @"needs root|CAP_BPF|run mesh with sudo"), $"the verifier's refusal is reported as a privilege problem although mesh runs as root: {line}");
        await sandbox.AssertNothingLeftAsync();
    }

    [Fact]
    public async Task WithoutRoot_OneSentenceAboutPrivileges()
    {
        using var sandbox = AgentSandbox.Create("nonroot");
        string[] nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

        var run = await MeshCli.RunAsync(["run", .. sandbox.Scope], nobody, MeshCli.DefaultTimeout);

        AssertOneLineError(run, "root", "CAP_BPF", "CAP_NET_ADMIN");
        await sandbox.AssertNothingLeftAsync();
    }

    /// <summary>A non-zero exit and exactly one non-empty stderr line, "mesh: error: ...", containing each of <paramref name="mentions"/>.</summary>
    internal static void AssertOneLineError(CliResult result, params string[] mentions)
    {
        Assert.True(result.ExitCode != 0, $"expected a non-zero exit:{Environment.NewLine}{result}");
        Assert.True(result.ErrorLines.Count == 1, $"expected exactly one non-empty line on stderr, got {result.ErrorLines.Count}:{Environment.NewLine}{result}");
        var line = result.ErrorLines[0];
        Assert.True(line.StartsWith(Prefix, StringComparison.Ordinal), $"the error line does not start with '{Prefix}': {line}{Environment.NewLine}{result}");
        foreach (var mention in mentions)
        {
            Assert.True(line.Contains(mention, StringComparison.Ordinal), $"the error line does not mention '{mention}': {line}");
        }
    }

    [GeneratedRegex(@"/\S+\.log\b")]
    private static partial Regex LogFilePath();
}
