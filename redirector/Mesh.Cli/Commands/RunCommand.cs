using System.CommandLine;
using Mesh.Cli.Agent;
using Mesh.Redirector;
using Mesh.Redirector.Interop;
using Mesh.Redirector.Programs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Cli.Commands;

/// <summary>`mesh run`: the node agent.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "the Mesh YAML config (default: the built-in config/mesh.yaml)" };
        var cgroup = new Option<string?>("--cgroup") { Description = "cgroup v2 directory whose sockets are spliced (default: the cgroup v2 root)" };
        var pinDirectory = CommonOptions.PinDirectory();
        var noSplice = new Option<bool>("--no-splice") { Description = "keep every connection on TCP (the splice is an accelerator, never needed)" };
        var bpfDirectory = new Option<DirectoryInfo?>("--bpf-dir") { Description = "load *.bpf.o from this directory instead of the built-in objects", Hidden = true };
        var verbose = CommonOptions.Verbose();
        var command = new Command("run", "Run the node agent until SIGINT or SIGTERM.") { config, cgroup, pinDirectory, noSplice, bpfDirectory, verbose };
        command.SetAction((result, cancellation) =>
        {
            var options = new SpliceOptions
            {
                CgroupPath = result.GetValue(cgroup),
                PinDirectory = result.GetValue(pinDirectory)!,
                Enabled = !result.GetValue(noSplice),
                ObjectDirectory = result.GetValue(bpfDirectory)?.FullName,
            };
            return RunAsync(options, result.GetValue(config), result.GetValue(verbose), cancellation);
        });
        return command;
    }

    private static async Task<int> RunAsync(SpliceOptions splice, FileInfo? configFile, bool verbose, CancellationToken cancellation)
    {
        if (configFile is { Exists: false })
        {
            return CliError.Report($"config file {configFile.FullName} does not exist");
        }
        if (Preflight.MissingForDatapath() is { } missing)
        {
            return CliError.Report(missing);
        }

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Trace : LogLevel.Information);
        builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.Services.AddOptions<SpliceOptions>().Configure(options =>
        {
            options.CgroupPath = splice.CgroupPath;
            options.PinDirectory = splice.PinDirectory;
            options.Enabled = splice.Enabled;
            options.ObjectDirectory = splice.ObjectDirectory;
        });
        builder.Services.AddSingleton(new AgentRunSettings(configFile?.FullName ?? "built-in"));
        builder.Services.AddSingleton<SpliceAgent>();
        builder.Services.AddHostedService(services => services.GetRequiredService<SpliceAgent>());

        using var host = builder.Build();
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (BpfLoadException error)
        {
            var logFile = Path.Combine(Path.GetTempPath(), $"mesh-verifier-{error.ObjectName}.log");
            await File.WriteAllTextAsync(logFile, error.LibBpfLog, CancellationToken.None);
            return CliError.Report($"{error.Message}; the verifier log is in {logFile} (or run with --verbose)");
        }
        catch (Exception error) when (error is BpfException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return CliError.Report(error.Message);
        }
        await host.WaitForShutdownAsync(CancellationToken.None);
        return 0;
    }
}
