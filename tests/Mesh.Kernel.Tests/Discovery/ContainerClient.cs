using System.Diagnostics;
using System.Globalization;
using Mesh.Testing.Docker;

namespace Mesh.Kernel.Tests.Discovery;

/// <summary>One request's outcome: when it started (seconds of /proc/uptime, the host's clock too) and the body, or null when it failed.</summary>
public sealed record Reply(double StartedAt, string? Body);

/// <summary>
/// A client inside a container: busybox wget run in it with docker exec, one connection per request, as a
/// containerised client makes them. A loop in the container's shell keeps the rate up (no exec per request).
/// </summary>
public sealed class ContainerClient(TestDockerDaemon docker, string container)
{
    // busybox sh runs no applet by its bare name here (no /bin/wget): each is called as busybox APPLET. timeout bounds
    // a request to a replica that is gone (Debian's static wget 1.35 crashes on its own -T); the loop ends at COUNT
    // requests or at the uptime END.
    private const string RequestLoop = """
        count=$1 end=$2 url=$3 i=0
        while [ $i -lt $count ]; do
          read up _ < /proc/uptime
          [ ${up%.*} -lt $end ] || break
          if body=$(busybox timeout 2 busybox wget -q -O - "$url" 2>/dev/null); then echo "$up ok $body"; else echo "$up fail"; fi
          i=$((i + 1))
        done
        """;

    public string Container => container;

    /// <summary>The host's (and every container's) monotonic clock, in the form the loop stamps its requests with.</summary>
    public static double Uptime() => double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary><paramref name="count"/> GETs of <paramref name="url"/> one after another, or fewer if <paramref name="until"/> (uptime) comes first.</summary>
    public async Task<IReadOnlyList<Reply>> GetAsync(string url, int count, double until = int.MaxValue)
    {
        var (output, _) = await ExecAsync(["busybox", "sh", "-c", RequestLoop, "sh", count.ToString(CultureInfo.InvariantCulture), ((long)Math.Ceiling(until)).ToString(CultureInfo.InvariantCulture), url]);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Parse)];
    }

    /// <summary>What busybox wget says of one GET: the body, or its error (such as "server returned error: HTTP/1.1 403 Forbidden").</summary>
    public async Task<string> GetOnceAsync(string url)
    {
        var (output, error) = await ExecAsync(["busybox", "timeout", "5", "busybox", "wget", "-O", "-", url]);
        return output + error;
    }

    /// <summary>Asks in rounds until one round is answered by exactly <paramref name="names"/>, each at least once; false after 15 s.</summary>
    public async Task<bool> WaitForAnswersFromAsync(string url, IReadOnlyCollection<string> names)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            var bodies = (await GetAsync(url, 4 * names.Count)).Select(reply => reply.Body).ToHashSet();
            if (bodies.SetEquals(names))
            {
                return true;
            }
            await Task.Delay(50);
        }
        return false;
    }

    private static Reply Parse(string line)
    {
        var fields = line.Split(' ', 3);
        return double.TryParse(fields[0], CultureInfo.InvariantCulture, out var startedAt) && fields[1] is "ok" or "fail"
            ? new Reply(startedAt, fields is [_, "ok", var body] ? body : null)
            : throw new InvalidOperationException($"the request loop printed '{line}'");
    }

    /// <summary>Runs the command in the container; its standard output and error (where the shell reports a request it timed out).</summary>
    private async Task<(string Output, string Error)> ExecAsync(IReadOnlyList<string> command)
    {
        var start = new ProcessStartInfo("docker") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-H", $"unix://{docker.Socket}", "exec", container }.Concat(command))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }
        return (await output, await error);
    }
}
