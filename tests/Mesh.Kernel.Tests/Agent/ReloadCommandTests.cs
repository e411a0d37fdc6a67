using System.Net;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>`mesh reload` asks the running agent, over its admin socket, to re-read its config file now.</summary>
public sealed class ReloadCommandTests
{
    [Fact]
    public async Task Reload_ValidThenInvalidFile_AppliesTheFirstAndReportsTheSecondLineByLine()
    {
        using var sandbox = AgentSandbox.Create("reload-cmd");
        var port = LoopbackPair.FreePort();
        var destination = new IPEndPoint(IPAddress.Loopback, port);
        var configFile = Path.Combine(Path.GetTempPath(), $"{sandbox.Name}.yaml");
        try
        {
            await File.WriteAllTextAsync(configFile, "splice: on\n");
            await sandbox.StartAgentAsync("--config", configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
            sandbox.EnterCgroup();

            await File.WriteAllTextAsync(configFile, $"l4:\n  rules:\n    - {{ action: deny, to: 127.0.0.1, protocol: tcp, ports: {port} }}\n");
            var valid = await MeshCli.RunAsync("reload", "--pin-dir", sandbox.PinDirectory);
            var deniedAfterValid = RawConnect.Errno(destination);

            await File.WriteAllTextAsync(configFile, "l4:\n  rules:\n    - { action: maybe }\n");
            var invalid = await MeshCli.RunAsync("reload", "--pin-dir", sandbox.PinDirectory);
            var deniedAfterInvalid = RawConnect.Errno(destination);

            Assert.True(valid.ExitCode == 0, valid.ToString());
            Assert.Contains("reloaded", valid.StdOut, StringComparison.Ordinal);
            Assert.Equal(RawConnect.Eperm, deniedAfterValid);
            Assert.NotEqual(0, invalid.ExitCode);
            Assert.Contains($"{configFile}:3:", invalid.StdErr, StringComparison.Ordinal);
            Assert.Equal(RawConnect.Eperm, deniedAfterInvalid); // the last good rules still serve
        }
        finally
        {
            sandbox.LeaveCgroup();
            File.Delete(configFile);
        }
    }
}
