using System.CommandLine;
using System.Diagnostics;
using System.Net;
using Mesh.Cli.Agent;
using Mesh.Redirector;
using Mesh.Redirector.Interop;
using Mesh.Redirector.Maps;
using Mesh.Redirector.Programs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mesh.Cli.Commands;

/// <summary>
/// `mesh demo`: shows the splice on this machine without touching its other workloads. It makes a
/// child cgroup, attaches the splice there, runs two local HTTP services inside it (a frontend
/// calling a catalog), prints the counters, and removes everything it made.
/// </summary>
internal static class DemoCommand
{
    private const int Requests = 500;
    private const int ResponseBytes = 64 * 1024;

    public static Command Create()
    {
        var noSplice = new Option<bool>("--no-splice") { Description = "run the same traffic with the splice switched off, for comparison" };
        var command = new Command("demo", "Run two local HTTP services in a throw-away cgroup with the splice attached, then show the counters.") { noSplice };
        command.SetAction((result, cancellation) => RunAsync(!result.GetValue(noSplice), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(bool spliceEnabled, CancellationToken cancellation)
    {
        if (Preflight.MissingForDatapath() is { } missing)
        {
            return CliError.Report(missing);
        }
        var name = $"mesh-demo-{Environment.ProcessId}";
        var options = new SpliceOptions { PinDirectory = Path.Combine(BpfFileSystem.DefaultMount, name), Enabled = spliceEnabled };
        using var cgroup = ChildCgroup.Create(name);
        options.CgroupPath = cgroup.Path;
        using var libBpfLog = LibBpfLog.Install(NullLogger.Instance);
        using var datapath = SpliceDatapath.Attach(options, libBpfLog, NullLogger.Instance);
        cgroup.EnterCurrentProcess();
        Console.WriteLine($"Splice {(spliceEnabled ? "on" : "off")}: attached to {cgroup.Path}; this process runs inside it.");

        await using var catalog = await StartCatalogAsync(cancellation);
        var url = $"{catalog.Urls.First()}/items";
        using var frontend = new HttpClient();
        var watch = Stopwatch.StartNew();
        long received = 0;
        for (var i = 0; i < Requests; i++)
        {
            received += (await frontend.GetByteArrayAsync(url, cancellation)).Length;
        }
        watch.Stop();
        Console.WriteLine($"frontend -> catalog: {Requests} requests, {received:N0} bytes in {watch.Elapsed.TotalMilliseconds:N0} ms");
        var state = new AgentState(Environment.ProcessId, cgroup.Path, options.PinDirectory, spliceEnabled, "demo", DateTimeOffset.UtcNow);
        Console.WriteLine();
        Console.Write(StatusReport.Render(state, datapath.ReadCounters(), datapath.SpliceSocketCount()));
        return 0;
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
