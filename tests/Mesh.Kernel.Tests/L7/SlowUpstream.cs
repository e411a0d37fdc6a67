using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// A Kestrel service for the agent-level L7 tests: answers "upstream", after 2 s on paths under /slow, so a test can
/// keep a request in flight across a reload or a stop.
/// </summary>
public sealed class SlowUpstream : IAsyncDisposable
{
    public const string Body = "upstream";

    private readonly WebApplication _app;

    private SlowUpstream(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public IPAddress Address => EndPoint.Address;

    public int Port => EndPoint.Port;

    public static async Task<SlowUpstream> StartAsync(IPAddress address)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            if (context.Request.Path.StartsWithSegments("/slow"))
            {
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
            await context.Response.WriteAsync(Body);
        });
        await app.StartAsync();
        return new SlowUpstream(app, new IPEndPoint(address, new Uri(app.Urls.First()).Port));
    }

    public override string ToString() => EndPoint.ToString();

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
