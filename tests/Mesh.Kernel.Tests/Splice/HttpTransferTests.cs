using System.Net;
using System.Security.Cryptography;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>A real Kestrel server and HttpClient inside the test cgroup, with and without the splice.</summary>
public sealed class HttpTransferTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1024)]
    [InlineData(1024 * 1024)]
    [InlineData(64 * 1024 * 1024)]
    public async Task Upload_And_Download_Spliced_ArriveIntactAndCountRedirectedBytes(int size)
    {
        using var cgroup = SplicedCgroup.Create();
        var payload = SocketStreams.RandomBytes(size);
        await using var server = await TransferServer.StartAsync(payload);
        var before = cgroup.Counters();

        var uploaded = await server.UploadAsync(payload);
        var downloaded = await server.DownloadAsync();

        var moved = cgroup.Counters().Minus(before);
        output.WriteLine($"{size} bytes up and down: redirected {moved.BytesRedirected / (2.0 * size):P1} of them; counters {moved}");
        Assert.Equal(SocketStreams.Sha256(payload), uploaded);
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(downloaded));
        // Both directions are spliced from their first byte. A body larger than the reader's receive
        // buffer goes on over TCP once the sender outruns its reader (the bound on queued bytes).
        Assert.Equal(2UL, moved.DirectionsSpliced); // one keep-alive connection, both directions
        Assert.Equal(0UL, moved.DirectionsStartedOnTcp);
        Assert.True(moved.BytesRedirected >= (size <= 64 * 1024 ? 2UL * (ulong)size : 2UL * 64 * 1024), $"{moved}");
        Assert.Equal(0UL, moved.LookupsMissed);
    }

    [Fact]
    public async Task Upload_AfterDetach_ArrivesIntactAndCountersStandStill()
    {
        using var cgroup = SplicedCgroup.Create();
        using var counters = cgroup.OpenCounters();
        await using (var warmup = await TransferServer.StartAsync([]))
        {
            await warmup.UploadAsync(SocketStreams.RandomBytes(1024));
        }
        cgroup.Detach();
        var before = SpliceCounterReader.Read(counters);
        var payload = SocketStreams.RandomBytes(1024 * 1024);
        await using var server = await TransferServer.StartAsync(payload);

        var uploaded = await server.UploadAsync(payload);

        Assert.Equal(SocketStreams.Sha256(payload), uploaded);
        Assert.True(before.BytesRedirected > 0, "the warm-up before detach was not spliced");
        Assert.Equal(before, SpliceCounterReader.Read(counters));
    }

    /// <summary>
    /// A Kestrel server on 127.0.0.1: POST /upload answers the SHA-256 of the body, GET /download sends
    /// the payload. Uploading and downloading one after the other keeps the test valid on plain TCP,
    /// where echoing a body larger than both directions' buffers deadlocks (HttpClient reads the
    /// response only once the request is sent).
    /// </summary>
    private sealed class TransferServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly HttpClient _client;

        private TransferServer(WebApplication app)
        {
            _app = app;
            _client = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        }

        public static async Task<TransferServer> StartAsync(byte[] download)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.MaxRequestBodySize = null;
                kestrel.Listen(IPAddress.Loopback, 0);
            });
            var app = builder.Build();
            app.MapPost("/upload", async (HttpRequest request) =>
                Convert.ToHexString(await SHA256.HashDataAsync(request.Body)));
            app.MapGet("/download", async (HttpResponse response) =>
            {
                response.ContentType = "application/octet-stream";
                await response.Body.WriteAsync(download);
            });
            await app.StartAsync();
            return new TransferServer(app);
        }

        public async Task<string> UploadAsync(byte[] body)
        {
            using var response = await _client.PostAsync("/upload", new ByteArrayContent(body));
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsStringAsync();
        }

        public Task<byte[]> DownloadAsync() => _client.GetByteArrayAsync("/download");

        public async ValueTask DisposeAsync()
        {
            _client.Dispose();
            await _app.DisposeAsync();
        }
    }
}
