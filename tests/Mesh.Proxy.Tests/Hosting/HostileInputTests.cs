using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Tests.Infrastructure;
using Xunit.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Hosting;

/// <summary>
/// Hostile HTTP on real sockets: requests no client library would send, written byte for byte, each refused with its
/// status (or its connection closed) before it reaches an endpoint, within <see cref="ProxySettings"/>; and the slow
/// and rapid-reset attacks, during which a well-behaved client's latency is measured and printed.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class HostileInputTests(ITestOutputHelper output)
{
    private const string Authority = "127.77.0.1:8080";

    [Fact]
    public async Task Headers_OverMaxRequestHeadersSize_Get431AndNothingIsForwarded()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestHeadersSize = 8 * 1024 });

        var within = await RawHttp.ExchangeAsync(proxy.EndPoint, Request("GET", ("X-Big", new string('a', 6 * 1024))));
        var over = await RawHttp.ExchangeAsync(proxy.EndPoint, Request("GET", ("X-Big", new string('a', 10 * 1024))));

        Assert.Equal(200, within.Status);
        Assert.Equal(431, over.Status);
        Assert.True(over.Closed);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task Headers_OverMaxRequestHeadersSizeOnHttp2_StreamGets431AndTheConnectionGoesOn()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestHeadersSize = 8 * 1024 });
        await using var connection = await RawHttp2Connection.OpenAsync(proxy.EndPoint);

        // Two fields, each within the limit, that add up past it; then a request within it on the same connection.
        await connection.TryWriteAsync(RawHttp2Connection.Get(1, Authority, ("x-big-1", new string('a', 5 * 1024)), ("x-big-2", new string('a', 5 * 1024))));
        await connection.TryWriteAsync(RawHttp2Connection.Get(3, Authority, ("x-big", new string('a', 6 * 1024))));
        var answered = await connection.WaitForResponsesAsync(2, TimeSpan.FromSeconds(5));

        Assert.True(answered);
        Assert.Equal((431, 200), (connection.StatusOf(1), connection.StatusOf(3)));
        Assert.False(connection.Closed);
        Assert.Equal(1, upstream.Hits);
    }

    [Theory]
    [InlineData(1, 10 * 1024, RawHttp2Connection.CompressionError)] // one field longer than the whole size limit: HPACK refuses to decode it
    [InlineData(30, 1, RawHttp2Connection.ProtocolError)]           // more fields than the count limit
    public async Task Headers_OverLimitsOnHttp2_ConnectionGetsGoAwayAndNothingIsForwarded(int fields, int valueLength, int goAwayCode)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        var limits = new ProxySettings { MaxRequestHeadersSize = 8 * 1024, MaxRequestHeaderCount = 20 };
        await using var proxy = await TestProxy.StartAsync([service], null, limits: limits);
        await using var connection = await RawHttp2Connection.OpenAsync(proxy.EndPoint);
        var headers = Headers(fields).Select(h => (h.Name, new string('a', valueLength))).ToArray();

        await connection.TryWriteAsync(RawHttp2Connection.Get(1, Authority, headers));
        var closed = await connection.WaitClosedAsync(TimeSpan.FromSeconds(5));

        Assert.True(closed);
        Assert.Equal(goAwayCode, connection.GoAwayCode);
        Assert.Equal(0, connection.Responses);
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Headers_OverMaxRequestHeaderCount_Get431AndNothingIsForwarded()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestHeaderCount = 20 });

        // Host and Connection are fields too: 2 + 18 is the limit, 2 + 19 one past it.
        var within = await RawHttp.ExchangeAsync(proxy.EndPoint, Request("GET", Headers(18)));
        var over = await RawHttp.ExchangeAsync(proxy.EndPoint, Request("GET", Headers(19)));

        Assert.Equal(200, within.Status);
        Assert.Equal(431, over.Status);
        Assert.True(over.Closed);
        Assert.Equal(1, upstream.Hits);
    }

    [Fact]
    public async Task Body_ContentLengthOverLimit_Gets413BeforeAnythingIsForwarded()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestBodySize = 64 * 1024 });
        var head = RawHttp.Bytes($"POST /upload HTTP/1.1\r\nHost: {Authority}\r\nContent-Length: {1024 * 1024}\r\n\r\n");

        // Only the head and the first kilobyte: the answer must not wait for the body.
        var elapsed = Stopwatch.StartNew();
        var response = await RawHttp.ExchangeAsync(proxy.EndPoint, head, new byte[1024]);
        elapsed.Stop();

        output.WriteLine($"413 after {elapsed.ElapsedMilliseconds} ms, connection closed: {response.Closed}");
        Assert.Equal(413, response.Status);
        Assert.Contains("x-mesh-error: body-too-large", response.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Connection: close", response.Text, StringComparison.OrdinalIgnoreCase);
        Assert.True(response.Closed);
        Assert.Equal(0, upstream.Hits);
        Assert.Equal(HttpStatusCode.OK, (await proxy.GetAsync(service, "/")).StatusCode);
    }

    [Fact]
    public async Task Body_ContentLengthAtLimit_IsForwardedWhole()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestBodySize = 64 * 1024 });

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/upload", r => r.Content = new ByteArrayContent(new byte[64 * 1024]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(64 * 1024, upstream.Last.Body.Length);
    }

    [Fact]
    public async Task Body_ChunkedOverLimit_Gets413AndTheUpstreamGetsAtMostTheLimit()
    {
        const int Limit = 64 * 1024;
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestBodySize = Limit });
        var head = RawHttp.Bytes($"POST /upload HTTP/1.1\r\nHost: {Authority}\r\nTransfer-Encoding: chunked\r\n\r\n");
        var chunk = RawHttp.Bytes($"4000\r\n{new string('x', 16 * 1024)}\r\n");
        var body = Enumerable.Repeat(chunk, 16).SelectMany(c => c).Concat(RawHttp.Bytes("0\r\n\r\n")).ToArray();

        var response = await RawHttp.ExchangeAsync(proxy.EndPoint, head, body);

        output.WriteLine($"statuses [{string.Join(", ", response.Statuses)}], closed: {response.Closed}, upstream read {upstream.BodyBytes} of 262144 bytes");
        Assert.True(response.Statuses.SequenceEqual([413]) || (response.Statuses.Count == 0 && response.Closed), response.Text);
        Assert.InRange(upstream.BodyBytes, 0, Limit);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Body_OverLimitOnHttp2_Gets413AndTheUpstreamGetsAtMostTheLimit(bool announcedLength)
    {
        const int Limit = 64 * 1024;
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestBodySize = Limit });
        using var h2 = proxy.CreateClient(null, HttpVersion.Version20);
        var body = new byte[4 * Limit];

        using var response = await proxy.SendAsync(service, HttpMethod.Post, "/upload", r =>
        {
            r.Content = new StreamContent(new MemoryStream(body));
            r.Content.Headers.ContentLength = announcedLength ? body.Length : null;
        }, h2);

        output.WriteLine($"content-length announced: {announcedLength}; {(int)response.StatusCode}, upstream read {upstream.BodyBytes} of {body.Length} bytes");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("body-too-large", string.Join(",", response.Headers.GetValues(MeshHeaders.Error)));
        Assert.InRange(upstream.BodyBytes, 0, announcedLength ? 0 : Limit);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Body_ChunkedOverLimitOnRetriedRoute_Gets413BeforeAnythingIsForwarded()
    {
        // The limit is below the 64 KiB retry buffer, so the body passes it while the proxy reads it to keep for retries.
        await using var upstream = await TestUpstream.StartAsync();
        var route = Route("retried") with { Retry = new RetryPolicy() };
        var service = Service("web", 1, upstream, route);
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { MaxRequestBodySize = 16 * 1024 });
        var head = RawHttp.Bytes($"PUT /item HTTP/1.1\r\nHost: {Authority}\r\nTransfer-Encoding: chunked\r\n\r\n");
        var body = RawHttp.Bytes($"8000\r\n{new string('x', 32 * 1024)}\r\n0\r\n\r\n");

        var response = await RawHttp.ExchangeAsync(proxy.EndPoint, head, body);

        Assert.Equal(413, response.Status);
        Assert.Contains("x-mesh-error: body-too-large", response.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, upstream.Hits);
    }

    [Theory]
    [InlineData("GET /\r\n\r\n")]                                   // HTTP/0.9
    [InlineData("GET  / HTTP/1.1\r\nHost: x\r\n\r\n")]              // two spaces
    [InlineData("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n")]
    [InlineData("G(T / HTTP/1.1\r\nHost: x\r\n\r\n")]               // not a token
    [InlineData("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n")]          // NUL in the target
    [InlineData("GET / HTTP/1.1\rHost: x\r\n\r\n")]                 // bare CR ends the line
    [InlineData("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")] // TLS on the cleartext port
    public async Task RequestLine_Malformed_Gets400AndNothingIsForwarded(string request)
    {
        await AssertRefusedBeforeUpstreamAsync(request.Replace("Host: x", $"Host: {Authority}"), 400);
    }

    [Fact]
    public async Task RequestLine_OverKestrelsEightKiB_Gets414AndNothingIsForwarded()
    {
        await AssertRefusedBeforeUpstreamAsync($"GET /{new string('a', 9 * 1024)} HTTP/1.1\r\nHost: {Authority}\r\n\r\n", 414);
    }

    [Theory]
    [InlineData("Bad Name: x\r\n")]                 // space in the name
    [InlineData("X-Name : x\r\n")]                  // space before the colon (RFC 9112, 5.1)
    [InlineData("X-Inject: a\rX-Evil: b\r\n")]      // bare CR inside a value
    [InlineData("X-Inject: a\0b\r\n")]              // NUL inside a value
    [InlineData("X-Folded: a\r\n b\r\n")]           // obsolete line folding
    [InlineData("Ünïcode: x\r\n")]                  // non-ASCII name
    [InlineData("NoColon\r\n")]
    public async Task Header_InvalidNameOrLineBreak_Gets400AndNothingIsForwarded(string header)
    {
        await AssertRefusedBeforeUpstreamAsync($"GET / HTTP/1.1\r\nHost: {Authority}\r\n{header}\r\n", 400);
    }

    [Fact]
    public async Task Smuggling_ContentLengthAndTransferEncoding_UpstreamNeverSeesTheSmuggledRequest()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync(service);
        var attack = RawHttp.Bytes(
            $"POST / HTTP/1.1\r\nHost: {Authority}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            + $"GET /smuggled HTTP/1.1\r\nHost: {Authority}\r\n\r\n");

        var response = await RawHttp.ExchangeAsync(proxy.EndPoint, attack);

        output.WriteLine($"statuses [{string.Join(", ", response.Statuses)}], closed: {response.Closed}; upstream saw [{string.Join(", ", upstream.Requests.Select(r => r.Method + " " + r.PathAndQuery))}]");
        Assert.DoesNotContain(upstream.Requests, r => r.PathAndQuery.Contains("smuggled", StringComparison.Ordinal));
        Assert.True(response.Closed);
        Assert.True(response.Statuses.Count <= 1, response.Text);
        Assert.All(upstream.Requests, r => Assert.False(r.Headers.ContainsKey("Content-Length") && r.Headers.ContainsKey("Transfer-Encoding")));
    }

    [Theory]
    [InlineData("Content-Length: 4\r\nContent-Length: 5\r\n")]
    [InlineData("Content-Length: 4, 5\r\n")]
    [InlineData("Content-Length: -4\r\n")]
    [InlineData("Content-Length: 4x\r\n")]
    [InlineData("Transfer-Encoding: chunked, identity\r\n")]    // chunked must come last
    [InlineData("Transfer-Encoding: xchunked\r\n")]
    public async Task Framing_AmbiguousBodyLength_Gets400AndNothingIsForwarded(string framing)
    {
        await AssertRefusedBeforeUpstreamAsync($"POST / HTTP/1.1\r\nHost: {Authority}\r\n{framing}\r\nabcde", 400);
    }

    /// <summary>Sends <paramref name="request"/> as it is to a proxy with one pass-through route: it must be answered with <paramref name="status"/>, the connection closed, and nothing forwarded.</summary>
    private static async Task AssertRefusedBeforeUpstreamAsync(string request, int status)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync(service);

        var response = await RawHttp.ExchangeAsync(proxy.EndPoint, RawHttp.Bytes(request));

        Assert.Equal(status, response.Status);
        Assert.True(response.Closed);
        Assert.Equal(0, upstream.Hits);
    }

    [Fact]
    public async Task Slowloris_HeadersTrickledByteByByte_ClosedAfterTheTimeoutWhileOthersAreServed()
    {
        const int Attackers = 50;
        const int PrefaceAttackers = 10;
        var timeout = TimeSpan.FromSeconds(2);
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { RequestHeadersTimeout = timeout });
        var baseline = await MeasureAsync(proxy, service, TimeSpan.FromSeconds(1));

        // HTTP/1.1 headers that never end; and the HTTP/2 preface a byte at a time, which keeps the listener guessing the
        // protocol (for at most requestHeadersTimeout) before Kestrel's own timeout starts.
        var attackers = new List<SlowClient>();
        for (var i = 0; i < Attackers; i++)
        {
            attackers.Add(await SlowClient.ConnectAsync(proxy.EndPoint, RawHttp.Bytes($"GET / HTTP/1.1\r\nHost: {Authority}\r\nX-Slow: "), "a"u8.ToArray()));
        }

        var prefaceAttackers = new List<SlowClient>();
        for (var i = 0; i < PrefaceAttackers; i++)
        {
            prefaceAttackers.Add(await SlowClient.ConnectAsync(proxy.EndPoint, [], RawHttp.Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
        }

        using var stop = new CancellationTokenSource();
        var during = MeasureAsync(proxy, service, stop.Token);
        // One byte per connection every 500 ms, for at most 10 s; the proxy should have closed them all long before.
        for (var tick = 0; tick < 20 && attackers.Concat(prefaceAttackers).Any(a => !a.Closed); tick++)
        {
            await Task.WhenAll(attackers.Concat(prefaceAttackers).Select(a => a.SendByteAsync()));
            await Task.Delay(500);
        }

        stop.Cancel();
        var latency = await during;
        var lifetimes = Lifetimes(attackers);
        var prefaceLifetimes = Lifetimes(prefaceAttackers);
        output.WriteLine(string.Concat(
            $"slowloris: {Attackers} connections trickling headers closed after {lifetimes[0]:0.00}..{lifetimes[^1]:0.00} s (requestHeadersTimeout {timeout.TotalSeconds} s), ",
            $"{attackers.Sum(a => a.BytesSent)} bytes trickled, answers: {Answers(attackers)}"));
        output.WriteLine(string.Concat(
            $"slowloris: {PrefaceAttackers} connections trickling the HTTP/2 preface closed after {prefaceLifetimes[0]:0.00}..{prefaceLifetimes[^1]:0.00} s, ",
            $"answers: {Answers(prefaceAttackers)}"));
        output.WriteLine($"well-behaved client before: {baseline}");
        output.WriteLine($"well-behaved client during: {latency}");
        foreach (var attacker in attackers.Concat(prefaceAttackers))
        {
            attacker.Dispose();
        }

        // Kestrel checks timeouts on its 1 s heartbeat and adds one interval, so a connection ends 0 to 2 s after its
        // timeout; a preface trickler first spends up to one timeout in protocol detection.
        Assert.All(lifetimes, t => Assert.InRange(t, timeout.TotalSeconds, timeout.TotalSeconds + 3));
        Assert.All(prefaceLifetimes, t => Assert.InRange(t, timeout.TotalSeconds, 2 * timeout.TotalSeconds + 3));
        Assert.All(attackers, a => Assert.Contains(a.Answer, new[] { "408", "closed" }));
        Assert.All(prefaceAttackers, a => Assert.Contains(a.Answer, new[] { "400", "408", "closed" }));
        Assert.Equal(0, upstream.Requests.Count(r => r.Headers.ContainsKey("X-Slow")));
        Assert.Equal(0, latency.Failures);
        Assert.True(latency.Count >= 20, $"only {latency.Count} requests during the attack");
        Assert.True(latency.Median < 50, $"median {latency.Median:0.0} ms during the attack");
        Assert.True(latency.P99 < 500, $"p99 {latency.P99:0.0} ms during the attack");

        static double[] Lifetimes(List<SlowClient> clients) =>
            [.. clients.Select(a => a.ClosedAfter?.TotalSeconds ?? double.PositiveInfinity).Order()];

        static string Answers(List<SlowClient> clients) =>
            string.Join(", ", clients.GroupBy(a => a.Answer).Select(g => $"{g.Count()}× {g.Key}"));
    }

    [Fact]
    public async Task RapidReset_ThousandsOfStreamsOpenedAndReset_ConnectionIsCutWhileOthersAreServed()
    {
        const int StreamsPerConnection = 10_000;
        const int StreamsPerWrite = 200;
        await using var upstream = await TestUpstream.StartAsync();
        var service = Service("web", 1, upstream, Route("all"));
        await using var proxy = await TestProxy.StartAsync([service], null, limits: new ProxySettings { Http2 = new ProxyHttp2Settings { MaxStreamsPerConnection = 100 } });
        using var h2 = proxy.CreateClient(null, HttpVersion.Version20);
        var baseline = await MeasureAsync(proxy, service, TimeSpan.FromSeconds(1), h2);

        using var stop = new CancellationTokenSource();
        var during = MeasureAsync(proxy, service, stop.Token, h2);
        var attack = Stopwatch.StartNew();
        var connections = new List<(int Written, bool Closed, TimeSpan? ClosedAfter, int? GoAway, bool Reset, int CalmResets, int Responses)>();
        // A new attacking connection every 50 ms or so, for 3 s (at most 100), each writing up to 10,000 streams as fast as
        // the socket takes them; the proxy must cut every one short.
        while (attack.Elapsed < TimeSpan.FromSeconds(3) && connections.Count < 100)
        {
            await Task.Delay(50);
            await using var connection = await RawHttp2Connection.OpenAsync(proxy.EndPoint);
            var written = 0;
            while (written < StreamsPerConnection && await connection.TryWriteAsync(RawHttp2Connection.GetsAndResets(2 * written + 1, StreamsPerWrite, Authority)))
            {
                written += StreamsPerWrite;
            }

            var closed = await connection.WaitClosedAsync(TimeSpan.FromSeconds(5));
            connections.Add((written, closed, connection.ClosedAfter, connection.GoAwayCode, connection.Reset, connection.Resets.EnhanceYourCalm, connection.Responses));
        }

        stop.Cancel();
        var latency = await during;
        // Which of Kestrel's guards ended each connection: too many streams refused with ENHANCE_YOUR_CALM (GOAWAY), or
        // too many frames queued for output (the connection is reset).
        var cut = proxy.Logs.Entries
            .Where(e => e.EventId.Name is "Http2TooManyEnhanceYourCalms" or "Http2QueueOperationsExceeded")
            .GroupBy(e => e.EventId.Name!)
            .ToDictionary(g => g.Key, g => g.Select(e => e.Message.Split('"')[1]).ToHashSet());
        var pairs = connections.Sum(c => c.Written);
        var lifetimes = connections.Select(c => c.ClosedAfter?.TotalMilliseconds ?? double.PositiveInfinity).Order().ToArray();
        output.WriteLine(string.Concat(
            $"rapid reset: {connections.Count} connections in {attack.Elapsed.TotalSeconds:0.0} s, {pairs} HEADERS+RST_STREAM pairs written, ",
            $"{upstream.Hits} requests reached the upstream ({100.0 * upstream.Hits / pairs:0.00}%)"));
        output.WriteLine(string.Concat(
            $"connections closed {lifetimes[0]:0}..{lifetimes[^1]:0} ms after opening: {connections.Count(c => c.GoAway is not null)} with GOAWAY ",
            $"({string.Join(", ", connections.Where(c => c.GoAway is not null).GroupBy(c => c.GoAway).Select(g => $"{g.Count()}× 0x{g.Key:x}"))}), ",
            $"{connections.Count(c => c.Reset)} reset; {connections.Sum(c => c.CalmResets)} streams refused with ENHANCE_YOUR_CALM, {connections.Sum(c => c.Responses)} answered"));
        output.WriteLine(string.Concat(
            $"Kestrel's guard: {cut.GetValueOrDefault("Http2TooManyEnhanceYourCalms")?.Count ?? 0} connections over the ENHANCE_YOUR_CALM limit, ",
            $"{cut.GetValueOrDefault("Http2QueueOperationsExceeded")?.Count ?? 0} over the output queue limit"));
        output.WriteLine($"well-behaved h2c client before: {baseline}");
        output.WriteLine($"well-behaved h2c client during: {latency}");

        // Kestrel sends GOAWAY (ENHANCE_YOUR_CALM, or INTERNAL_ERROR for the output queue) and then resets the socket,
        // which often discards the GOAWAY on its way: the log says which guard cut each connection.
        Assert.All(connections, c => Assert.True(c.Closed && c.ClosedAfter < TimeSpan.FromSeconds(5), "the proxy kept an attacking connection open"));
        Assert.Equal(connections.Count, cut.Values.SelectMany(ids => ids).Distinct().Count());
        Assert.True(upstream.Hits < pairs / 10, $"{upstream.Hits} of {pairs} reset streams reached the upstream");
        Assert.Equal(0, latency.Failures);
        Assert.True(latency.Count >= 20, $"only {latency.Count} requests during the attack");
        Assert.True(latency.Median < 100, $"median {latency.Median:0.0} ms during the attack");
        Assert.True(latency.P99 < 1000, $"p99 {latency.P99:0.0} ms during the attack");
    }

    /// <summary>A request with the given header fields after Host, and Connection: close so that the proxy ends the exchange.</summary>
    private static byte[] Request(string method, params (string Name, string Value)[] headers) =>
        RawHttp.Bytes($"{method} / HTTP/1.1\r\nHost: {Authority}\r\n{string.Concat(headers.Select(h => $"{h.Name}: {h.Value}\r\n"))}Connection: close\r\n\r\n");

    private static (string Name, string Value)[] Headers(int count) =>
        [.. Enumerable.Range(0, count).Select(i => ($"X-H{i.ToString(CultureInfo.InvariantCulture)}", "v"))];

    /// <summary>The client's latency without an attack, after 50 requests that warm up the proxy, the client and the upstream.</summary>
    private static async Task<LatencyRecord> MeasureAsync(TestProxy proxy, ServiceConfig service, TimeSpan duration, HttpClient? client = null)
    {
        for (var i = 0; i < 50; i++)
        {
            (await proxy.SendAsync(service, HttpMethod.Get, "/", client: client)).Dispose();
        }

        using var stop = new CancellationTokenSource(duration);
        return await MeasureAsync(proxy, service, stop.Token, client);
    }

    /// <summary>A client's latency while an attack runs, until <paramref name="stop"/>: one request every 2 ms or so.</summary>
    private static Task<LatencyRecord> MeasureAsync(TestProxy proxy, ServiceConfig service, CancellationToken stop, HttpClient? client = null) =>
        Task.Run(() => LatencyRecord.MeasureAsync(() => proxy.SendAsync(service, HttpMethod.Get, "/", client: client), stop, TimeSpan.FromMilliseconds(2)));

    /// <summary>One slowloris connection: the start of a request, then a byte at a time; notes when and how the proxy ends it.</summary>
    private sealed class SlowClient : IDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly MemoryStream _received = new();
        private readonly Task _reader;
        private readonly byte[] _trickle;
        private int _trickled;

        private SlowClient(TcpClient client, byte[] trickle)
        {
            _client = client;
            _trickle = trickle;
            _stream = client.GetStream();
            _reader = WatchAsync();
        }

        public int BytesSent { get; private set; }

        public bool Closed => _reader.IsCompleted;

        public TimeSpan? ClosedAfter { get; private set; }

        /// <summary>The status the proxy answered before closing, or "closed" for none.</summary>
        public string Answer => _received.Length >= 12 ? System.Text.Encoding.Latin1.GetString(_received.ToArray(), 9, 3) : "closed";

        /// <summary>Connects and writes <paramref name="start"/>; each <see cref="SendByteAsync"/> then sends the next byte of <paramref name="trickle"/>.</summary>
        public static async Task<SlowClient> ConnectAsync(IPEndPoint endPoint, byte[] start, byte[] trickle)
        {
            var client = new TcpClient { NoDelay = true };
            await client.ConnectAsync(endPoint);
            var slow = new SlowClient(client, trickle);
            await client.GetStream().WriteAsync(start);
            slow.BytesSent = start.Length;
            return slow;
        }

        public async Task SendByteAsync()
        {
            if (Closed)
            {
                return;
            }

            try
            {
                await _stream.WriteAsync(_trickle.AsMemory(_trickled++ % _trickle.Length, 1));
                BytesSent++;
            }
            catch (IOException)
            {
            }
        }

        public void Dispose() => _client.Dispose();

        private async Task WatchAsync()
        {
            await RawHttp.ReadToEndAsync(_stream, _received, TimeSpan.FromSeconds(15));
            ClosedAfter = Stopwatch.GetElapsedTime(_started);
        }
    }
}
