using System.IO.Pipelines;
using System.Net;
using Mesh.Proxy.Forwarding;
using Mesh.Proxy.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Forwarding;

public sealed class CoalescedResponseBodyTests
{
    private const int CopyBufferSize = 4096;

    [Fact]
    public async Task BodyThatArrivedWhole_ReadInFourPieces_GoesToTheClientInOneSend()
    {
        var body = Bytes(16 * 1024);
        var upstream = new Pipe();
        await upstream.Writer.WriteAsync(body);
        await upstream.Writer.CompleteAsync();
        var (context, client) = Attach(upstream.Reader, body.Length);

        var reads = await CopyAsync(context);

        Assert.Equal(4, reads);
        Assert.Equal(body, client.Received.ToArray());
        Assert.Equal([16 * 1024], client.Sends);
    }

    [Fact]
    public async Task ReadThatWaits_SendsWhatIsHeldBeforeWaiting()
    {
        var body = Bytes(12 * 1024);
        var upstream = new Pipe();
        await upstream.Writer.WriteAsync(body.AsMemory(0, 8 * 1024));
        var (context, client) = Attach(upstream.Reader, body.Length);

        var copy = CopyAsync(context);
        await WaitUntilAsync(() => client.Received.Length == 8 * 1024);
        Assert.False(copy.IsCompleted);

        await upstream.Writer.WriteAsync(body.AsMemory(8 * 1024));
        await upstream.Writer.CompleteAsync();
        await copy;

        Assert.Equal(body, client.Received.ToArray());
        Assert.Equal([8 * 1024, 4 * 1024], client.Sends);
    }

    [Fact]
    public async Task HeldBytes_PastTheLimit_AreSentWithoutWaitingForTheEnd()
    {
        var body = Bytes(CoalescedResponseBody.MaxHeldBytes + CopyBufferSize);
        var upstream = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        await upstream.Writer.WriteAsync(body);
        await upstream.Writer.CompleteAsync();
        var (context, client) = Attach(upstream.Reader, body.Length);

        await CopyAsync(context);

        Assert.Equal(body, client.Received.ToArray());
        Assert.Equal([CoalescedResponseBody.MaxHeldBytes, CopyBufferSize], client.Sends);
    }

    [Theory]
    [InlineData("GET", CoalescedResponseBody.SingleReadBodySize)]
    [InlineData("GET", 0L)]
    [InlineData("HEAD", 16 * 1024L)]
    public void SmallOrAbsentBody_IsLeftAlone(string method, long contentLength)
    {
        var (context, client) = Attach(new Pipe().Reader, contentLength, method);

        Assert.Same(client.Feature, context.Features.Get<IHttpResponseBodyFeature>());
    }

    [Fact]
    public async Task ThroughTheProxy_EachPartOfASlowBody_ReachesTheClientWithoutWaitingForTheRest()
    {
        var body = Bytes(32 * 1024);
        var half = body.Length / 2;
        var clientHasFirstHalf = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body.AsMemory(0, half));
            await context.Response.Body.FlushAsync();
            await clientHasFirstHalf.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await context.Response.Body.WriteAsync(body.AsMemory(half));
        });
        var service = Service("web", 1, upstream);
        await using var proxy = await TestProxy.StartAsync(service);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/slow");
        request.Headers.Host = service.EndPoint.ToString();

        using var response = await proxy.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var received = new byte[body.Length];
        using (var firstHalfDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await stream.ReadExactlyAsync(received.AsMemory(0, half), firstHalfDeadline.Token);
        }

        clientHasFirstHalf.SetResult();
        using (var secondHalfDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await stream.ReadExactlyAsync(received.AsMemory(half), secondHalfDeadline.Token);
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, received);
    }

    /// <summary>A response transform context as YARP hands it over, after copying the upstream's headers.</summary>
    private static (HttpContext Context, ClientSide Client) Attach(PipeReader upstreamBody, long contentLength, string method = "GET")
    {
        var client = new ClientSide();
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Features.Set<IHttpResponseBodyFeature>(client.Feature);
        var content = new StreamContent(upstreamBody.AsStream());
        content.Headers.ContentLength = contentLength;
        var transform = new ResponseTransformContext
        {
            HttpContext = context,
            ProxyResponse = new HttpResponseMessage(HttpStatusCode.OK) { Content = content },
            HeadersCopied = true,
        };

        Assert.True(CoalescedResponseBody.Attach(transform).IsCompletedSuccessfully);
        context.Items[typeof(HttpResponseMessage)] = transform.ProxyResponse;
        return (context, client);
    }

    /// <summary>Copies the upstream body to the client as YARP's StreamCopier does: a zero-byte read, a read, a write.</summary>
    private static async Task<int> CopyAsync(HttpContext context)
    {
        var response = (HttpResponseMessage)context.Items[typeof(HttpResponseMessage)]!;
        await using var input = await response.Content.ReadAsStreamAsync();
        var output = context.Response.Body;
        var buffer = new byte[CopyBufferSize];
        var reads = 0;
        while (true)
        {
            // Waits for data; a zero-byte read returns 0 whatever it finds.
            _ = await input.ReadAsync(Memory<byte>.Empty);
            var read = await input.ReadAsync(buffer);
            if (read == 0)
            {
                return reads;
            }

            reads++;
            await output.WriteAsync(buffer.AsMemory(0, read));
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    private static byte[] Bytes(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    /// <summary>
    /// The client's end: ASP.NET Core's stream-backed response body, whose pipe writes to a stream that counts each
    /// flush as one send, as Kestrel's transport sends once per flush.
    /// </summary>
    private sealed class ClientSide : MemoryStream
    {
        public ClientSide() => Feature = new StreamResponseBodyFeature(this);

        public StreamResponseBodyFeature Feature { get; }

        public MemoryStream Received => this;

        /// <summary>
        /// The bytes of each flush that carried some: Kestrel sends nothing for an empty flush (such as starting the
        /// response).
        /// </summary>
        public List<long> Sends { get; } = [];

        private long _sent;

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            if (Length > _sent)
            {
                Sends.Add(Length - _sent);
                _sent = Length;
            }

            return Task.CompletedTask;
        }
    }
}
