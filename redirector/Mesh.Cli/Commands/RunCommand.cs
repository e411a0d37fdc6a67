using System.CommandLine;
using Mesh.Agent;
using Mesh.Agent.Hardening;

namespace Mesh.Cli.Commands;

/// <summary>`mesh run`: the node agent.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "the Mesh YAML config, watched and hot-reloaded (default: the built-in config/mesh.yaml)" };
        var cgroup = new Option<string?>("--cgroup") { Description = "cgroup v2 directory whose sockets are spliced (default: agent.cgroup, else the cgroup v2 root)" };
        var pinDirectory = new Option<string?>("--pin-dir") { Description = "bpffs directory for the pinned maps (default: agent.bpfPinDir, else /sys/fs/bpf/mesh)" };
        var noSplice = new Option<bool>("--no-splice") { Description = "keep every connection on TCP whatever the config says (the splice is an accelerator, never needed)" };
        var proxyPort = new Option<int>("--proxy-port")
        {
            Description = "port of the node proxy on 127.0.0.1 and [::1], where connections to services with HTTP policy are diverted",
            DefaultValueFactory = _ => AgentOverrides.DefaultProxyPort,
        };
        proxyPort.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 65535)
            {
                result.AddError("--proxy-port must be between 1 and 65535");
            }
        });
        var runAs = new Option<string>("--run-as")
        {
            Description = $"user the agent runs as once started by root, keeping only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; 'root' keeps root (default: {LeastPrivilege.DefaultUser}, if that user exists)",
            DefaultValueFactory = _ => LeastPrivilege.DefaultUser,
        };
        var bpfDirectory = new Option<DirectoryInfo?>("--bpf-dir") { Description = "load *.bpf.o from this directory instead of the built-in objects", Hidden = true };
        var verbose = CommonOptions.Verbose();
        var command = new Command("run", "Run the node agent until SIGINT or SIGTERM.") { config, cgroup, pinDirectory, noSplice, proxyPort, runAs, bpfDirectory, verbose };
        command.SetAction((result, cancellation) =>
        {
            var overrides = new AgentOverrides(result.GetValue(cgroup), result.GetValue(pinDirectory), result.GetValue(noSplice), result.GetValue(bpfDirectory)?.FullName, result.GetValue(proxyPort), result.GetValue(verbose));
            return RunAsync(result.GetValue(config), overrides, result.GetValue(runAs)!, result.GetValue(verbose), cancellation);
        });
        return command;
    }

    private static async Task<int> RunAsync(FileInfo? configFile, AgentOverrides overrides, string runAs, bool verbose, CancellationToken cancellation)
    {
        try
        {
            await MeshAgentHost.RunAsync(configFile, overrides, runAs, logging => AgentLogging.Configure(logging, verbose), cancellation);
            return 0;
        }
        catch (AgentStartException error)
        {
            foreach (var detail in error.Details)
            {
                Console.Error.WriteLine(detail);
            }
            return CliError.Report(error.Message);
        }
    }
}
