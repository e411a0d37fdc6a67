using System.CommandLine;
using Mesh.Cli.Agent;
using Mesh.Cli.Agent.Flows;
using Mesh.Cli.Agent.L7;
using Mesh.Cli.Agent.Services;
using Mesh.Proxy.Configuration;
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
        var config = new Option<FileInfo?>("--config") { Description = "the Mesh YAML config, watched and hot-reloaded (default: the built-in config/mesh.yaml)" };
        var cgroup = new Option<string?>("--cgroup") { Description = "cgroup v2 directory whose sockets are spliced (default: agent.cgroup, else the cgroup v2 root)" };
        var pinDirectory = new Option<string?>("--pin-dir") { Description = "bpffs directory for the pinned maps (default: agent.bpfPinDir, else /sys/fs/bpf/mesh)" };
        var noSplice = new Option<bool>("--no-splice") { Description = "keep every connection on TCP whatever the config says (the splice is an accelerator, never needed)" };
        var proxyPort = new Option<int>("--proxy-port")
        {
            Description = "port of the node proxy on 127.0.0.1 and [::1], where connections to services with HTTP policy are diverted",
            DefaultValueFactory = _ => RunOverrides.DefaultProxyPort,
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
            var overrides = new RunOverrides(result.GetValue(cgroup), result.GetValue(pinDirectory), result.GetValue(noSplice), result.GetValue(bpfDirectory)?.FullName, result.GetValue(proxyPort), result.GetValue(verbose));
            return RunAsync(result.GetValue(config), overrides, result.GetValue(runAs)!, result.GetValue(verbose), cancellation);
        });
        return command;
    }

    private static async Task<int> RunAsync(FileInfo? configFile, RunOverrides overrides, string runAs, bool verbose, CancellationToken cancellation)
    {
        // First, before any socket of this process exists (see ThreadingSettings); the re-executed agent inherits them.
        ThreadingSettings.ApplyUnlessSet();
        // Before the agent starts its threads (see NativeHeapArenas); the re-executed agent applies it again.
        NativeHeapArenas.CapUnlessSet();
        if (configFile is { Exists: false })
        {
            return CliError.Report($"config file {configFile.FullName} does not exist");
        }
        if (Preflight.MissingForDatapath() is { } missing)
        {
            return CliError.Report(missing);
        }
        if (LeastPrivilege.ShouldDrop(runAs))
        {
            try
            {
                if (UnprivilegedStart.PrepareAndReexec(configFile, overrides, runAs) is { } problem)
                {
                    return CliError.Report(problem);
                }
            }
            catch (Exception error) when (error is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                return CliError.Report(error.Message);
            }
        }

        var builder = Host.CreateApplicationBuilder();
        AgentLogging.Configure(builder.Logging, verbose);
        builder.Services.AddSingleton(overrides);
        builder.Services.AddSingleton(services => AgentConfig.Open(configFile, services.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(services => LibBpfLog.Install(services.GetRequiredService<ILoggerFactory>().CreateLogger("libbpf")));
        builder.Services.AddSingleton<ProxyModelMapper>();
        builder.Services.AddSingleton<SpliceAgent>();
        builder.Services.AddSingleton<L4Agent>();
        builder.Services.AddSingleton<L7Agent>();
        // Health checks go to the endpoints themselves, never through an HTTP proxy from the environment.
        builder.Services.AddSingleton(_ => new EndpointProbe(new HttpClient(new SocketsHttpHandler { UseProxy = false })));
        builder.Services.AddSingleton<EndpointHealthProber>();
        builder.Services.AddSingleton<ServicesAgent>();
        builder.Services.AddSingleton<FlowHistory>();
        builder.Services.AddSingleton<FlowAgent>();
        builder.Services.AddSingleton<AgentStatusSource>();
        builder.Services.AddSingleton<AdminEndpoint>();
        builder.Services.AddSingleton<KernelMetrics>();
        // Started in this order and stopped in reverse: the L7 path goes first on shutdown.
        builder.Services.AddHostedService(services => services.GetRequiredService<SpliceAgent>());
        // L4 before L7: its connect programs must be attached before the diversion's (see L4Agent).
        builder.Services.AddHostedService(services => services.GetRequiredService<L4Agent>());
        builder.Services.AddHostedService(services => services.GetRequiredService<L7Agent>());
        // After L7: the service table lives in the diversion's object, which the L7 path loads and pins.
        builder.Services.AddHostedService(services => services.GetRequiredService<ServicesAgent>());
        // After the datapaths, which pin the flow ring buffer; the admin API last, once there is something to serve.
        builder.Services.AddHostedService(services => services.GetRequiredService<FlowAgent>());
        builder.Services.AddHostedService(services => services.GetRequiredService<AdminEndpoint>());
        builder.Services.AddHostedService(services => services.GetRequiredService<KernelMetrics>());

        var host = builder.Build();
        // Disposed asynchronously: the L7 path's proxy host only has an asynchronous dispose.
        await using var hostDisposal = (IAsyncDisposable)host;
        try
        {
            await host.StartAsync(cancellation);
        }
        catch (OperationCanceledException)
        {
            // SIGINT or SIGTERM while starting: what did start is torn down when the host is disposed.
            return 0;
        }
        catch (InvalidConfigException error)
        {
            foreach (var configError in error.Errors)
            {
                Console.Error.WriteLine(configError);
            }
            return CliError.Report($"the config has {error.Errors.Count} error(s); nothing was attached");
        }
        catch (BpfLoadException error)
        {
            // Named after the process: a file left by an earlier run (maybe by another user) is never in the way.
            var logFile = Path.Combine(Path.GetTempPath(), $"mesh-verifier-{error.ObjectName}-{Environment.ProcessId}.log");
            await File.WriteAllTextAsync(logFile, error.LibBpfLog, CancellationToken.None);
            return CliError.Report($"{error.Message}; the verifier log is in {logFile} (or run with --verbose)");
        }
        catch (Exception error) when (error is BpfException or ProxyConfigException or ProxyStartException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return CliError.Report(error.Message);
        }
        await host.WaitForShutdownAsync(CancellationToken.None);
        return 0;
    }
}
