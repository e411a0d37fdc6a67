using System.Diagnostics;
using System.Net;

namespace Mesh.Kernel.Tests.Infrastructure;

/// <summary>
/// A connection made by another user, as the node proxy's are: uid is a property of the process (the kernel's
/// bpf_get_current_uid_gid), so the test starts one, in its own cgroup, with util-linux's setpriv and bash's /dev/tcp.
/// </summary>
internal static class ProxyUserConnect
{
    /// <summary>Connects to <paramref name="to"/> as <paramref name="uid"/>, sends <paramref name="text"/> and closes.</summary>
    public static async Task SendAsync(uint uid, IPEndPoint to, string text)
    {
        var start = new ProcessStartInfo("setpriv") { RedirectStandardError = true };
        foreach (var argument in new[] { $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--", "bash", "-c",
            $"exec 3<>/dev/tcp/{to.Address}/{to.Port} && printf %s '{text}' >&3" })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(process.ExitCode == 0, $"setpriv ... bash as uid {uid} failed ({process.ExitCode}): {error}");
    }
}
