using System.CommandLine;
using System.Diagnostics;
using System.Net;
using Mesh.Agent;
using Mesh.Agent.Admin;
using Mesh.Agent.Hardening;
using Mesh.Datapath;
using Mesh.Datapath.Interop;
using Mesh.Datapath.Maps;
using Mesh.Datapath.Programs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Cli.Commands;

/// <summary>
/// `mesh demo`: shows the splice on this machine without touching its other workloads. It makes a
/// child cgroup, attaches the splice there, runs two local HTTP services inside it (a frontend
/// calling a catalog) first with the splice off and then as the config says, prints the counters,
/// and removes everything it made.
/// </summary>
internal static class DemoCommand
{
    private const int Requests = 500;
    private const int ResponseBytes = 64 * 1024;

    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "the Mesh YAML config whose splice setting the demo uses (default: the built-in config/mesh.yaml)" };
        var command = new Command("demo", "Run two local HTTP services in a throw-away cgroup, first over plain TCP, then with the splice the config asks for, and show the counters.") { config };
        command.SetAction((result, cancellation) => RunAsync(result.GetValue(config), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(FileInfo? configFile, CancellationToken cancellation)
    {
        if (Preflight.MissingForDatapath() is { } missing)
        {
            return CliError.Report(missing);
        }
        using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole(console => console.SingleLine = true));
        AgentConfig config;
        try
        {
            config = AgentConfig.Open(configFile, loggers);
        }
        catch (InvalidConfigException error)
        {
            Console.Error.WriteLine(error.Message);
            return CliError.Report("the config is invalid");
        }
        using (config)
        {
            var name = $"mesh-demo-{Environment.ProcessId}";
            using var cgroup = ChildCgroup.Create(name);
            var options = new SpliceOptions { CgroupPath = cgroup.Path, PinDirectory = Path.Combine(BpfFileSystem.DefaultMount, name), Enabled = false };
            using var libBpfLog = LibBpfLog.Install(NullLogger.Instance);
            using var datapath = SpliceDatapath.Attach(options, libBpfLog, NullLogger.Instance);
            cgroup.EnterCurrentProcess();
            Console.WriteLine($"Splice attached to the throw-away cgroup {cgroup.Path}; this process runs inside it ({config.Description}: splice {(config.Current.Splice ? "on" : "off")}).");
            await using var catalog = await StartCatalogAsync(cancellation);
            var url = $"{catalog.Urls.First()}/items";

            await CallCatalogAsync(url, phase: null, cancellation); // warm-up: JIT and connection set-up are not measured
            await CallCatalogAsync(url, "splice off (plain loopback TCP)", cancellation);
            datapath.SetEnabled(config.Current.Splice);
            await CallCatalogAsync(url, $"splice {(config.Current.Splice ? "on" : "off")} (as configured)", cancellation);

            var state = new AgentState(Environment.ProcessId, cgroup.Path, options.PinDirectory, config.Current.Splice, config.Description, DateTimeOffset.UtcNow);
            Console.WriteLine();
            Console.Write(StatusReport.Render(new StatusSnapshot(state, datapath.ReadCounters(), datapath.SpliceSocketCount(), Divert: null, L4: null, FlowEvents: null)));
            Console.WriteLine();
            Console.WriteLine("Everything the demo attached, pinned and created is removed on exit.");
            return 0;
        }
    }

    /// <summary>The frontend's calls; a new client each time, so no connection of an earlier phase is reused.</summary>
    private static async Task CallCatalogAsync(string url, string? phase, CancellationToken cancellation)
    {
        using var frontend = new HttpClient();
        var watch = Stopwatch.StartNew();
        long received = 0;
        for (var i = 0; i < Requests; i++)
        {
            received += (await frontend.GetByteArrayAsync(url, cancellation)).Length;
        }
        if (phase is not null)
        {
            Console.WriteLine($"frontend -> catalog, {phase}: {Requests} requests, {received:N0} bytes in {watch.Elapsed.TotalMilliseconds:N0} ms");
        }
    }

    private static async Task<WebApplication> StartCatalogAsync(CancellationToken cancellation)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var body = new byte[ResponseBytes];
        Random.Shared.NextBytes(body);
        app.MapGet("/items", () => Results.Bytes(body, "application/octet-stream"));
        await app.StartAsync(cancellation);
        return app;
    }
}
