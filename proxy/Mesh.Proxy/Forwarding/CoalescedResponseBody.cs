using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;

namespace Mesh.Proxy.Forwarding;

/// <summary>
/// Sends the pieces of a response body that the upstream had delivered together to the client in one socket write,
/// instead of one write per piece; a piece is never held while the proxy waits for the upstream.
/// </summary>
/// <remarks>
/// <para>
/// YARP copies a response body read by read, and Kestrel flushes, that is sends, each write to its response stream.
/// HttpClient reads an upstream's answer into a 4 KiB buffer, headers first, so a larger body takes two reads or more
/// even when all of it has arrived: a 16 KiB body went out in two sends (4 KiB from that buffer, then 12 KiB), and the
/// client woke up twice. Kestrel runs inline (see <c>MeshProxyHost</c>), so nothing joins the two sends later.
/// </para>
/// <para>
/// When a response has a body that may take several reads, this takes the place of Kestrel's response body for YARP's
/// copy and wraps the upstream's body. A write goes into Kestrel's response pipe unflushed; what is held is flushed as
/// soon as a read from the upstream does not complete at once (the proxy would wait), at the body's end, when the copy
/// asks for a flush, and past <see cref="MaxHeldBytes"/>. So streamed and slow bodies still go out as
/// they arrive, and a body that was all there goes out in one send. YARP keeps the copy and its error handling.
/// </para>
/// </remarks>
internal sealed class CoalescedResponseBody : UnseekableStream, IHttpResponseBodyFeature
{
    /// <summary>
    /// Bodies up to this size skip coalescing: HttpClient's first 4 KiB read holds the headers (a few hundred bytes as a
    /// rule) and such a body whole, so there is nothing to join, and the wrappers would only cost allocations.
    /// </summary>
    public const long SingleReadBodySize = 2048;

    /// <summary>Kestrel's default response buffer: past it a flush would wait for the client anyway.</summary>
    public const int MaxHeldBytes = 64 * 1024;

    private readonly IHttpResponseBodyFeature _client;
    private bool _started;
    private int _held;

    private CoalescedResponseBody(IHttpResponseBodyFeature client) => _client = client;

    /// <summary>
    /// A YARP response transform: once the upstream's headers are copied, puts the coalescing body between YARP's copy
    /// and both ends, unless the body is known to be small (or absent).
    /// </summary>
    public static ValueTask Attach(ResponseTransformContext context)
    {
        if (context.ProxyResponse?.Content is { } upstream
            && upstream.Headers.ContentLength is null or > SingleReadBodySize
            && !HttpMethods.IsHead(context.HttpContext.Request.Method)
            && context.HttpContext.Features.Get<IHttpResponseBodyFeature>() is { } client)
        {
            var body = new CoalescedResponseBody(client);
            context.HttpContext.Features.Set<IHttpResponseBodyFeature>(body);
            context.ProxyResponse.Content = new UpstreamContent(upstream, body);
        }

        return default;
    }

    Stream IHttpResponseBodyFeature.Stream => this;

    PipeWriter IHttpResponseBodyFeature.Writer => _client.Writer;

    void IHttpResponseBodyFeature.DisableBuffering() => _client.DisableBuffering();

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => _client.StartAsync(cancellationToken);

    Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken) =>
        _client.SendFileAsync(path, offset, count, cancellationToken);

    Task IHttpResponseBodyFeature.CompleteAsync() => _client.CompleteAsync();

    public override bool CanRead => false;

    public override bool CanWrite => true;

    /// <summary>Holds <paramref name="buffer"/> in the response pipe; sends only past <see cref="MaxHeldBytes"/>.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_started)
        {
            // The status line and headers go first; Kestrel starts at once unless an OnStarting callback awaits.
            var start = _client.StartAsync(cancellationToken);
            if (!start.IsCompletedSuccessfully)
            {
                return StartThenWriteAsync(start, buffer, cancellationToken);
            }

            _started = true;
        }

        _client.Writer.Write(buffer.Span);
        _held += buffer.Length;
        return _held >= MaxHeldBytes ? FlushHeldAsync(cancellationToken) : default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Kestrel's stream sends each write, and with it whatever the pipe held before.
    public override void Write(byte[] buffer, int offset, int count)
    {
        _held = 0;
        _client.Stream.Write(buffer, offset, count);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => FlushHeldAsync(cancellationToken, always: true).AsTask();

    public override void Flush()
    {
        _held = 0;
        _client.Stream.Flush();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Sends what the writes held, if anything (or always, when the copy asks for a flush).</summary>
    private ValueTask FlushHeldAsync(CancellationToken cancellationToken, bool always = false)
    {
        if (_held == 0 && !always)
        {
            return default;
        }

        _held = 0;
        var flush = _client.Writer.FlushAsync(cancellationToken);
        return flush.IsCompletedSuccessfully ? default : AwaitFlushAsync(flush);
    }

    private static async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush) => await flush;

    private async ValueTask StartThenWriteAsync(Task start, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await start;
        _started = true;
        await WriteAsync(buffer, cancellationToken);
    }

    /// <summary>The upstream's body, unchanged but for the stream it is read through.</summary>
    private sealed class UpstreamContent(HttpContent upstream, CoalescedResponseBody body) : HttpContent
    {
        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new UpstreamStream(await upstream.ReadAsStreamAsync(cancellationToken), body);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => upstream.CopyToAsync(stream, context);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                upstream.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Reads the upstream's body; before a read waits, sends what the client side holds.</summary>
    private sealed class UpstreamStream(Stream upstream, CoalescedResponseBody body) : UnseekableStream
    {
        public override bool CanRead => true;

        public override bool CanWrite => false;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = upstream.ReadAsync(buffer, cancellationToken);
            if (body._held == 0)
            {
                return read;
            }

            if (!read.IsCompleted)
            {
                // The proxy is about to wait for the upstream: what it has goes to the client first.
                return FlushHeldThenReadAsync(read, cancellationToken);
            }

            if (!read.IsCompletedSuccessfully || buffer.IsEmpty)
            {
                return read;
            }

            // At the body's end YARP's copy stops, and Kestrel's end of the response flushes only when it has sent
            // nothing yet: after an earlier send, what is held would wait for the connection's next flush.
            var count = read.Result;
            return count == 0 ? FlushHeldAtEndAsync(cancellationToken) : new ValueTask<int>(count);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        // YARP reads asynchronously only; a synchronous read could not send what is held without blocking on the client.
        public override int Read(byte[] buffer, int offset, int count) =>
            throw new NotSupportedException("The upstream's response body is read asynchronously only.");

        public override void Flush()
        {
        }

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                upstream.Dispose();
            }

            base.Dispose(disposing);
        }

        private async ValueTask<int> FlushHeldThenReadAsync(ValueTask<int> read, CancellationToken cancellationToken)
        {
            await body.FlushHeldAsync(cancellationToken);
            return await read;
        }

        private async ValueTask<int> FlushHeldAtEndAsync(CancellationToken cancellationToken)
        {
            await body.FlushHeldAsync(cancellationToken);
            return 0;
        }
    }
}
