using System.Runtime.InteropServices;
using Mesh.Datapath.Interop;
using Microsoft.Extensions.Logging;

namespace Mesh.Datapath.Programs;

/// <summary>
/// A cgroup attachment that outlives the agent: its bpf_link is pinned under the pin directory's
/// links/, so after a crash or kill -9 the program keeps enforcing (L4 denies, the L7 fail modes)
/// until the next start, which swaps in its own program with BPF_LINK_UPDATE — atomically and in
/// the same place of the cgroup's program order. Disposing (a clean stop) detaches and unpins.
/// </summary>
/// <remarks>A pinned link stays on the cgroup it was made for: start the agent again with the same cgroup and pin directory.</remarks>
internal sealed class PinnedCgroupLink : IDisposable
{
    private const string LinkDirectory = "links";

    private readonly BpfLink _link;
    private readonly string _path;

    private PinnedCgroupLink(BpfLink link, string path)
    {
        _link = link;
        _path = path;
    }

    public static PinnedCgroupLink AttachOrReplace(BpfProgram program, SafeHandle cgroup, string pinDirectory, ILogger logger)
    {
        var directory = Path.Combine(pinDirectory, LinkDirectory);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, program.Name);
        if (File.Exists(path))
        {
            var pinned = BpfLink.OpenPinned(path);
            if (pinned is not null)
            {
                try
                {
                    pinned.Replace(program, path);
                    logger.LogInformation("Replaced {Program} in place on its pinned link {Path}", program.Name, path);
                    return new PinnedCgroupLink(pinned, path);
                }
                catch (BpfException error)
                {
                    // E.g. a link of another program type left by an older Mesh: start afresh.
                    logger.LogWarning("Cannot reuse the pinned link {Path} ({Error}); attaching anew", path, error.Message);
                    pinned.DetachAndUnpin();
                    pinned.Dispose();
                }
            }
            File.Delete(path);
        }
        var link = program.AttachToCgroup(cgroup);
        try
        {
            link.Pin(path);
        }
        catch
        {
            link.Dispose();
            throw;
        }
        return new PinnedCgroupLink(link, path);
    }

    public void Dispose()
    {
        if (_link.IsClosed)
        {
            return;
        }
        _link.DetachAndUnpin();
        _link.Dispose();
        var directory = Path.GetDirectoryName(_path)!;
        if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
        {
            Directory.Delete(directory);
        }
    }
}
