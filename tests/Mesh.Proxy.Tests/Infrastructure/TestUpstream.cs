using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>What an upstream received.</summary>
internal sealed record ReceivedRequest(
    string Method,
    string PathAndQuery,
    IReadOnlyDictionary<string, string> Headers,
    byte[] Body,
    string Protocol);

/// <summary>
/// A real Kestrel server on 127.0.0.1:0 standing in for a service endpoint. It counts hits, records what it
/// received (body included), and answers with <c>handler(context, hitNumber)</c> (default: 200 "ok").
/// </summary>
internal sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _hits;
    private long _bodyBytes;

    private TestUpstream(WebApplication app, IPEndPoint endPoint)
    {
        _app = app;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public int Hits => Volatile.Read(ref _hits);

    /// <summary>Request body bytes read so far, counted as they arrive (also of requests that were cut off).</summary>
    public long BodyBytes => Interlocked.Read(ref _bodyBytes);

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public ReceivedRequest Last => Requests.Last();

    public static async Task<TestUpstream> StartAsync(
        Func<HttpContext, int, Task>? handler = null,
        HttpProtocols protocols = HttpProtocols.Http1)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = protocols));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        var app = builder.Build();
        TestUpstream? upstream = null;
        app.Run(async context =>
        {
            var hit = Interlocked.Increment(ref upstream!._hits);
            using var body = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                Interlocked.Add(ref upstream._bodyBytes, read);
                body.Write(chunk, 0, read);
            }
            upstream.Requests.Enqueue(new ReceivedRequest(
                context.Request.Method,
                context.Request.Path + context.Request.QueryString,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body.ToArray(),
                context.Request.Protocol));
            if (handler is null)
            {
                await context.Response.WriteAsync("ok", context.RequestAborted);
            }
            else
            {
                await handler(context, hit);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(address);
        upstream = new TestUpstream(app, new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port));
        return upstream;
    }

    /// <summary>Answers the given status codes in turn (then keeps answering the last one).</summary>
    public static Task<TestUpstream> StartWithStatusesAsync(params int[] statuses) =>
        StartAsync((context, hit) =>
        {
            context.Response.StatusCode = statuses[Math.Min(hit, statuses.Length) - 1];
            return Task.CompletedTask;
        });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
