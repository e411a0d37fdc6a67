using System.Net;
using System.Text;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Resilience;

public sealed class RetryTests
{
    private static HttpRouteRule Retrying(RetryPolicy? retry = null) => Route("all") with { Retry = retry ?? new RetryPolicy() };

    [Fact]
    public async Task Retry_UpstreamFailsTwiceWith502ThenSucceeds_ClientGets200AfterExactlyThreeAttempts()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 502, 200);
        var service = Service("web", 1, upstream, Retrying());
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, upstream.Hits);
    }

    [Fact]
    public async Task Retry_AttemptsExhausted_ClientGetsTheLastUpstreamAnswer()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502);
        var service = Service("web", 1, upstream, Retrying(new RetryPolicy { Attempts = 3 }));
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(4, upstream.Hits);
    }

    [Fact]
    public async Task Retry_PostByDefault_IsNotRetried()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 200);
        var service = Service("web", 1, upstream, Retrying());
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/orders", r => r.Content = new StringContent("order"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task Retry_503ByDefault_IsNotRetried()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(503, 200);
        var service = Service("web", 1, upstream, Retrying());
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task Retry_PostWithRetryNonIdempotent_ResendsTheSameBodyOnEveryAttempt()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 502, 201);
        var service = Service("web", 1, upstream, Retrying(new RetryPolicy { RetryNonIdempotent = true }));
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/orders",
            r => r.Content = new StringContent("{\"order\":42}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, upstream.Hits);
        Assert.All(upstream.Requests, r =>
        {
            Assert.Equal("{\"order\":42}", Encoding.UTF8.GetString(r.Body));
            Assert.StartsWith("application/json", r.Headers["Content-Type"]);
            Assert.Equal("12", r.Headers["Content-Length"]);
        });
    }

    [Fact]
    public async Task Retry_ChunkedBodyUnder64KiB_IsBufferedAndReplayed()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 200);
        var service = Service("web", 1, upstream, Retrying());
        await using var proxy = await TestProxy.StartAsync(service);
        var body = RandomBytes(60 * 1024);

        using var response = await proxy.SendAsync(service, HttpMethod.Put, "/blob",
            r => r.Content = new StreamContent(new UnknownLengthStream(body)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, upstream.Hits);
        Assert.All(upstream.Requests, r => Assert.Equal(body, r.Body));
    }

    [Fact]
    public async Task Retry_ChunkedBodyOver64KiB_IsStreamedOnceAndNotRetried()
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 200);
        var service = Service("web", 1, upstream, Retrying());
        await using var proxy = await TestProxy.StartAsync(service);
        var body = RandomBytes(200 * 1024);

        using var response = await proxy.SendAsync(service, HttpMethod.Put, "/blob",
            r => r.Content = new StreamContent(new UnknownLengthStream(body)));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, upstream.Hits);
        Assert.Equal(body, upstream.Last.Body);
    }

    [Theory]
    [InlineData(1024, HttpStatusCode.OK, 2)]
    [InlineData(1025, HttpStatusCode.BadGateway, 1)]
    public async Task Retry_RouteMaxBodyBytes_BodiesUpToItAreReplayedLargerOnesStreamedOnce(int size, HttpStatusCode expected, int hits)
    {
        await using var upstream = await TestUpstream.StartWithStatusesAsync(502, 200);
        var service = Service("web", 1, upstream, Retrying(new RetryPolicy { MaxBodyBytes = 1024 }));
        await using var proxy = await TestProxy.StartAsync(service);
        var body = RandomBytes(size);

        using var response = await proxy.SendAsync(service, HttpMethod.Put, "/blob",
            r => r.Content = new StreamContent(new UnknownLengthStream(body)));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(hits, upstream.Hits);
        Assert.All(upstream.Requests, r => Assert.Equal(body, r.Body));
    }

    [Fact]
    public async Task Retry_ConnectFailureOnOneEndpoint_RetriesOnTheOtherEndpoint()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Retrying()) with { Endpoints = [ClosedPort(), upstream.EndPoint] };
        await using var proxy = await TestProxy.StartAsync(service);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await proxy.GetAsync(service, "/");
            statuses.Add(response.StatusCode);
        }

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(10, upstream.Hits);
    }

    [Fact]
    public async Task Retry_ConnectFailureWithoutRetry_Gets502()
    {
        var service = Service("web", 1, upstream: null) with { Endpoints = [ClosedPort()] };
        await using var proxy = await TestProxy.StartAsync(service);

        using var response = await proxy.GetAsync(service, "/");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task Retry_TwentyFailingInFlight_BudgetLetsTwentyPercentRetry()
    {
        // budgetPercent 20 (the default): of 20 requests in flight, 4 may be retrying at once. Each try fails slowly,
        // so all 20 are in flight when the first answers come back.
        await using var upstream = await TestUpstream.StartAsync(async (c, _) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), c.RequestAborted);
            c.Response.StatusCode = 502;
        });
        var service = Service("web", 1, upstream, Retrying(new RetryPolicy { Attempts = 1 }));
        await using var proxy = await TestProxy.StartAsync(service);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => proxy.GetAsync(service, "/")));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode));
        Assert.Equal(20 + 4, upstream.Hits);
        Assert.Contains(proxy.Logs.Entries, e => e.EventId.Id == 41);
        Array.ForEach(responses, r => r.Dispose());
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(count).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A body HttpClient cannot measure, so it is sent chunked (no Content-Length).</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
