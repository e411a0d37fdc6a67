using Mesh.Config;
using Mesh.Datapath.Programs;

namespace Mesh.Agent.Hardening;

/// <summary>
/// What root does for the agent before <see cref="LeastPrivilege"/> takes root away: everything that needs more than
/// CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, done once at start — mounting bpffs, making the pin and state directories
/// the agent's user's, and joining the cgroup the agent serves (writing cgroup.procs needs root).
/// </summary>
internal static class UnprivilegedStart
{
    /// <summary>
    /// Prepares and re-executes as <paramref name="runAs"/>; returns an error sentence, or null to go on as root (a
    /// config or cgroup the agent will report itself, or no such user when the default one was meant).
    /// </summary>
    public static string? PrepareAndReexec(FileInfo? configFile, AgentOverrides overrides, string runAs)
    {
        if (LeastPrivilege.FindUser(runAs) is not { } user)
        {
            return runAs == LeastPrivilege.DefaultUser
                ? null
                : $"--run-as {runAs}: there is no such user; create it (useradd --system {runAs}) or pass --run-as root";
        }
        var loader = new MeshConfigLoader();
        var loaded = configFile is null ? null : loader.Load(configFile.FullName);
        if (loaded is { IsValid: false })
        {
            return null; // the agent reports every error of the file, as root, attaching nothing
        }
        if (configFile is not null && (File.GetUnixFileMode(configFile.FullName) & UnixFileMode.OtherRead) == 0)
        {
            return $"the config file {configFile.FullName} is not readable by user {runAs}, which the agent runs as: make it readable (chmod o+r) or pass --run-as root";
        }
        var config = loaded?.Config ?? new MeshConfig();
        var cgroup = overrides.CgroupFor(config) ?? Cgroup.FindV2Root();
        if (!File.Exists(Path.Combine(cgroup, "cgroup.procs")))
        {
            return null; // no cgroup v2 directory: the agent reports it, having made nothing
        }
        Cgroup.JoinUnlessWithin(cgroup);
        BpfFileSystem.EnsureMounted();
        var pinDirectory = Directory.CreateDirectory(overrides.PinDirectoryFor(config)).FullName;
        var stateDirectory = Directory.CreateDirectory(AgentState.StateDirectory).FullName;
        LeastPrivilege.ReexecAs(user, [pinDirectory, stateDirectory]);
        return null; // not reached: ReexecAs returns only by throwing
    }
}
