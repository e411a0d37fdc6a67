using System.Diagnostics;
using System.Text.Json;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Mesh.Kernel.Tests.Infrastructure;

namespace Mesh.Kernel.Tests.Agent;

/// <summary>
/// A child cgroup and a pin directory of its own for one test that runs `mesh run` as a separate
/// process. Disposing kills agents still running, moves the test process out, unpins whatever
/// is left, deletes the state file and removes the cgroup, also after a failure.
/// </summary>
public sealed class AgentSandbox : IDisposable
{
    private static int s_sequence;

    private readonly ChildCgroup _cgroup;
    private readonly List<AgentProcess> _agents = [];
    private bool _inside;

    private AgentSandbox(string name, ChildCgroup cgroup)
    {
        Name = name;
        _cgroup = cgroup;
        PinDirectory = Path.Combine(BpfFileSystem.DefaultMount, name);
        StateFile = AgentStateFile.PathFor(PinDirectory);
    }

    public string Name { get; }

    public string CgroupPath => _cgroup.Path;

    public string PinDirectory { get; }

    public string StateFile { get; }

    /// <summary>`--cgroup` and `--pin-dir` of this sandbox, the arguments every agent here is started with.</summary>
    public IReadOnlyList<string> Scope => ["--cgroup", CgroupPath, "--pin-dir", PinDirectory];

    public static AgentSandbox Create(string label)
    {
        KernelRequirements.Ensure();
        var name = $"mesh-test-{Environment.ProcessId}-{label}-{Interlocked.Increment(ref s_sequence)}";
        return new AgentSandbox(name, ChildCgroup.Create(name));
    }

    /// <summary>
    /// Starts `mesh run` on this sandbox and waits until it is attached. The agent is started from
    /// outside the cgroup so that it never runs among the sockets it splices.
    /// </summary>
    public async Task<AgentProcess> StartAgentAsync(params string[] extraArguments)
    {
        var wasInside = _inside;
        LeaveCgroup();
        try
        {
            var agent = await AgentProcess.StartAsync(Scope.Concat(extraArguments).ToList(), StateFile);
            _agents.Add(agent);
            return agent;
        }
        finally
        {
            if (wasInside)
            {
                EnterCgroup();
            }
        }
    }

    /// <summary>Moves the test process in: sockets it creates from now on are the cgroup's, so the splice sees them.</summary>
    public void EnterCgroup()
    {
        if (!_inside)
        {
            _cgroup.EnterCurrentProcess();
            _inside = true;
        }
    }

    public void LeaveCgroup()
    {
        if (_inside)
        {
            _cgroup.LeaveAll();
            _inside = false;
        }
    }

    public Task<CliResult> StatusAsync() => MeshCli.RunAsync("status", "--pin-dir", PinDirectory);

    /// <summary>The `bytes redirected` row of `mesh status`, which must succeed.</summary>
    public async Task<ulong> BytesRedirectedFromStatusAsync()
    {
        var status = await StatusAsync();
        Assert.True(status.ExitCode == 0, $"mesh status failed while an agent runs:{Environment.NewLine}{status}");
        return StatusTable.Counter(status.StdOut, "bytes redirected");
    }

    /// <summary>The splice counters read straight from the pinned map, for when no agent runs to ask.</summary>
    public SpliceCounterSnapshot PinnedCounters()
    {
        using var counters = BpfMap.OpenPinned(Path.Combine(PinDirectory, MapNames.SpliceCounters));
        return SpliceCounterReader.Read(counters);
    }

    /// <summary>The ids of the maps pinned here now, by pin name.</summary>
    public async Task<IReadOnlyDictionary<string, int>> PinnedMapIdsAsync()
    {
        var ids = new Dictionary<string, int>();
        foreach (var name in MapNames.All)
        {
            ids[name] = await BpfTool.PinnedMapIdAsync(Path.Combine(PinDirectory, name));
        }
        return ids;
    }

    /// <summary>
    /// After a clean stop: nothing on the cgroup, no pins, no state file, and (bounded wait, as the
    /// kernel frees programs asynchronously) no splice program still using the maps <paramref name="mapIds"/>.
    /// </summary>
    public async Task AssertNothingLeftAsync(IEnumerable<int>? mapIds = null)
    {
        var attached = await BpfTool.CgroupProgramsAsync(CgroupPath);
        Assert.True(attached.Count == 0, $"programs still attached to {CgroupPath}: {string.Join(", ", attached)}");
        Assert.False(Directory.Exists(PinDirectory), $"{PinDirectory} still exists: {string.Join(", ", ListPins())}");
        Assert.False(File.Exists(StateFile), $"the state file {StateFile} was left behind");
        if (mapIds is null)
        {
            return;
        }
        var ours = mapIds.ToHashSet();
        var watch = Stopwatch.StartNew();
        IReadOnlyList<BpfProgramInfo> left;
        do
        {
            left = (await BpfTool.SpliceProgramsAsync()).Where(program => program.MapIds.Overlaps(ours)).ToList();
            if (left.Count == 0)
            {
                return;
            }
            await Task.Delay(200);
        }
        while (watch.Elapsed < TimeSpan.FromSeconds(15));
        Assert.Fail($"splice programs still loaded on this test's maps ({string.Join(", ", ours)}) 15 s after the agent stopped: {string.Join("; ", left)}");
    }

    public void Dispose()
    {
        foreach (var agent in _agents)
        {
            agent.Dispose();
        }
        try
        {
            LeaveCgroup();
        }
        finally
        {
            try
            {
                PinnedMaps.Remove(PinDirectory, MapNames.All);
                if (Directory.Exists(PinDirectory))
                {
                    Directory.Delete(PinDirectory, recursive: true);
                }
                File.Delete(StateFile);
                File.Delete(Path.ChangeExtension(StateFile, ".sock"));
            }
            finally
            {
                _cgroup.Dispose();
            }
        }
    }

    private IEnumerable<string> ListPins() =>
        Directory.Exists(PinDirectory) ? Directory.EnumerateFileSystemEntries(PinDirectory).Select(entry => Path.GetFileName(entry)) : [];
}

/// <summary>A loaded BPF program as `bpftool -j prog show` lists it.</summary>
public sealed record BpfProgramInfo(int Id, string Type, string Name, IReadOnlySet<int> MapIds)
{
    public override string ToString() => $"prog {Id} {Type} {Name} maps [{string.Join(",", MapIds)}]";
}

/// <summary>Asks bpftool what the kernel has, independently of Mesh's own code.</summary>
public static class BpfTool
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Programs attached to the cgroup itself (not inherited), as "id attach_type name".</summary>
    public static async Task<IReadOnlyList<string>> CgroupProgramsAsync(string cgroupPath)
    {
        var result = await MeshCli.ExecAsync("bpftool", ["-j", "cgroup", "show", cgroupPath], Timeout);
        Assert.True(result.ExitCode == 0, $"bpftool cannot read {cgroupPath}:{Environment.NewLine}{result}");
        if (result.StdOut.Trim().Length == 0)
        {
            return []; // bpftool prints nothing at all for a cgroup without programs
        }
        using var document = JsonDocument.Parse(result.StdOut);
        return document.RootElement.EnumerateArray()
            .Select(program => $"{program.GetProperty("id").GetInt32()} {Text(program, "attach_type")} {Text(program, "name")}")
            .ToList();
    }

    /// <summary>Every loaded program named splice_register or splice_redirect, whoever loaded it.</summary>
    public static async Task<IReadOnlyList<BpfProgramInfo>> SpliceProgramsAsync()
    {
        var result = await MeshCli.ExecAsync("bpftool", ["-j", "prog", "show"], Timeout);
        Assert.True(result.ExitCode == 0, $"bpftool prog show failed:{Environment.NewLine}{result}");
        using var document = JsonDocument.Parse(result.StdOut);
        return document.RootElement.EnumerateArray()
            .Select(program => new BpfProgramInfo(
                program.GetProperty("id").GetInt32(),
                Text(program, "type"),
                Text(program, "name"),
                program.TryGetProperty("map_ids", out var maps) ? maps.EnumerateArray().Select(id => id.GetInt32()).ToHashSet() : new HashSet<int>()))
            .Where(program => program.Name is SpliceDatapath.SockOpsProgram or SpliceDatapath.RedirectProgram)
            .ToList();
    }

    public static async Task<int> PinnedMapIdAsync(string pin)
    {
        var result = await MeshCli.ExecAsync("bpftool", ["-j", "map", "show", "pinned", pin], Timeout);
        Assert.True(result.ExitCode == 0, $"no map pinned at {pin}:{Environment.NewLine}{result}");
        using var document = JsonDocument.Parse(result.StdOut);
        return document.RootElement.GetProperty("id").GetInt32();
    }

    private static string Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) ? value.ToString() : "?";
}

/// <summary>Reads `mesh status` tables.</summary>
public static class StatusTable
{
    /// <summary>The value of a counter row such as "bytes redirected   1,234".</summary>
    public static ulong Counter(string statusOutput, string row)
    {
        foreach (var line in statusOutput.Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith(row + " ", StringComparison.Ordinal))
            {
                var value = trimmed[row.Length..].Trim().Replace(",", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
                Assert.True(ulong.TryParse(value, out var number), $"row '{row}' of mesh status has no number: '{line}'");
                return number;
            }
        }
        Assert.Fail($"mesh status has no row '{row}':{Environment.NewLine}{statusOutput}");
        return 0;
    }
}
