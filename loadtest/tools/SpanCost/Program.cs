// span-cost: what the OpenTelemetry SDK alone costs per proxied request, for the two spans the node proxy makes
// (a server span and one client span, with the proxy's names, kinds and attributes), on one thread paced like the
// proxy's load, with no HTTP around it. Modes: "off" (no listener: the calls return null), "sdk" (the SDK with its
// batch processor and an exporter that drops each batch), "otlp" (the SDK with the OTLP/HTTP protobuf exporter, to
// ENDPOINT). Prints the process's CPU time per request, the exporter's thread included.
//
// usage: dotnet run -c Release --project loadtest/tools/SpanCost -- MODE REQUESTS [RATE] [ENDPOINT]
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

const int SliceMilliseconds = 10;
const int WarmUpRequests = 200_000;

if (args.Length < 2 || args[0] is not ("off" or "sdk" or "otlp") || !int.TryParse(args[1], out var requests) || requests <= 0
    || (args.Length > 2 && !int.TryParse(args[2], out _)) || (args[0] == "otlp") != (args.Length > 3))
{
    Console.Error.WriteLine("usage: SpanCost off|sdk|otlp REQUESTS [RATE per second, default 40000] [ENDPOINT, otlp only]");
    return 2;
}

var mode = args[0];
var rate = args.Length > 2 ? int.Parse(args[2]) : 40_000;
using var source = new ActivitySource("Mesh.Proxy");
var tracing = Sdk.CreateTracerProviderBuilder().AddSource(source.Name).SetSampler(new ParentBasedSampler(new AlwaysOnSampler()))
    .ConfigureResource(resource => resource.AddService("mesh-proxy"));
using var provider = mode switch
{
    "sdk" => tracing.AddProcessor(new BatchActivityExportProcessor(new DroppingExporter())).Build(),
    "otlp" => tracing.AddOtlpExporter(o => (o.Endpoint, o.Protocol) = (new Uri(args[3]), OtlpExportProtocol.HttpProtobuf)).Build(),
    _ => null,
};

var request = new ProxiedRequest(source);
Paced(WarmUpRequests, rate, request.Run);
provider?.ForceFlush();
var process = Process.GetCurrentProcess();
var cpuBefore = process.TotalProcessorTime;
Paced(requests, rate, request.Run);
provider?.ForceFlush(60_000);
process.Refresh();
var perRequest = (process.TotalProcessorTime - cpuBefore).TotalMicroseconds / requests;
Console.WriteLine($"{mode,-4}  {requests} requests at {rate}/s: {perRequest:F2} µs of CPU per request (2 spans)");
return 0;

// Runs `requests` calls in slices of 10 ms, sleeping out each slice, so that the exporter drains the queue as it
// would in the proxy rather than dropping what a flat-out loop would overrun it with.
static void Paced(int requests, int rate, Action call)
{
    var perSlice = Math.Max(1, rate * SliceMilliseconds / 1000);
    var clock = Stopwatch.StartNew();
    for (long slice = 1, done = 0; done < requests; slice++)
    {
        for (var i = 0; i < perSlice && done < requests; i++, done++)
        {
            call();
        }

        var ahead = (slice * SliceMilliseconds) - clock.ElapsedMilliseconds;
        if (ahead > 0)
        {
            Thread.Sleep((int)ahead);
        }
    }
}

/// <summary>The spans of one proxied GET, as proxy/Mesh.Proxy/Telemetry/ProxyInstrumentation.cs makes them.</summary>
internal sealed class ProxiedRequest(ActivitySource source)
{
    private readonly object _status = 200;
    private readonly object _port = 8080;

    public void Run()
    {
        var server = source.StartActivity("GET", ActivityKind.Server, default(ActivityContext));
        if (server is { IsAllDataRequested: true })
        {
            server.AddTag("http.request.method", "GET");
            server.AddTag("url.scheme", "http");
            server.AddTag("network.protocol.version", "1.1");
            server.AddTag("url.path", "/1k.bin");
            server.AddTag("client.address", "127.0.0.1");
            server.AddTag("mesh.service", "web");
            server.AddTag("mesh.route", "web/all");
            server.DisplayName = "GET web/all";
            server.SetTag("mesh.verdict", "allowed");
        }

        var client = source.StartActivity("GET", ActivityKind.Client);
        if (client is { IsAllDataRequested: true })
        {
            client.AddTag("http.request.method", "GET");
            client.AddTag("server.address", "127.0.0.1");
            client.AddTag("server.port", _port);
            client.AddTag("url.full", "http://127.0.0.1:8080/1k.bin");
            client.AddTag("mesh.service", "web");
        }

        // The traceparent the proxy writes upstream.
        _ = client?.Id;
        client?.AddTag("http.response.status_code", _status);
        client?.AddTag("network.protocol.version", "1.1");
        client?.Dispose();
        server?.AddTag("http.response.status_code", _status);
        server?.Dispose();
    }
}

/// <summary>Takes each batch and drops it: the SDK's work up to the exporter, without serialization or HTTP.</summary>
internal sealed class DroppingExporter : BaseExporter<Activity>
{
    public override ExportResult Export(in Batch<Activity> batch) => ExportResult.Success;
}
