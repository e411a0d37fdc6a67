using System.Net;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>A real Kestrel server and HttpClient inside the test cgroup, with and without the splice.</summary>
public sealed class HttpTransferTests
{
    [Theory]
    [InlineData(1024)]
    [InlineData(1024 * 1024)]
    [InlineData(64 * 1024 * 1024)]
    public async Task Upload_And_Download_Spliced_ArriveIntactAndCountRedirectedBytes(int size)
    {
        using var cgroup = SplicedCgroup.Create();
        var payload = SocketStreams.RandomBytes(size);
        await using var server = await EchoServer.StartAsync();
        var before = cgroup.Counters();

        var echoed = await server.PostAsync(payload);

        var after = cgroup.Counters();
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(echoed));
        // The request body goes one way and the response body back: both directions are spliced.
        Assert.True(after.BytesRedirected - before.BytesRedirected >= 2UL * (ulong)size,
            $"redirected {after.BytesRedirected - before.BytesRedirected} bytes for {2 * size} bytes of bodies");
        Assert.Equal(before.LookupsMissed, after.LookupsMissed);
    }

    [Fact]
    public async Task Upload_AfterDetach_ArrivesIntactAndCountersStandStill()
    {
        using var cgroup = SplicedCgroup.Create();
        using var counters = cgroup.OpenCounters();
        await using (var warmup = await EchoServer.StartAsync())
        {
            await warmup.PostAsync(SocketStreams.RandomBytes(1024));
        }
        cgroup.Detach();
        var before = SpliceCounterReader.Read(counters);
        var payload = SocketStreams.RandomBytes(1024 * 1024);
        await using var server = await EchoServer.StartAsync();

        var echoed = await server.PostAsync(payload);

        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(echoed));
        Assert.True(before.BytesRedirected > 0, "the warm-up before detach was not spliced");
        Assert.Equal(before, SpliceCounterReader.Read(counters));
    }

    /// <summary>A Kestrel server on 127.0.0.1 that answers POST /echo with the request body.</summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly HttpClient _client;

        private EchoServer(WebApplication app)
        {
            _app = app;
            _client = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        }

        public static async Task<EchoServer> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = null;
                kestrel.Listen(IPAddress.Loopback, 0);
            });
            var app = builder.Build();
            app.MapPost("/echo", async (HttpRequest request, HttpResponse response) =>
            {
                response.ContentType = "application/octet-stream";
                await request.Body.CopyToAsync(response.Body);
            });
            await app.StartAsync();
            return new EchoServer(app);
        }

        public async Task<byte[]> PostAsync(byte[] body)
        {
            using var response = await _client.PostAsync("/echo", new ByteArrayContent(body));
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsByteArrayAsync();
        }

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await _app.DisposeAsync();
        }
    }
}
