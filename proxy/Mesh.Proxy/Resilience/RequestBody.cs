using Mesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Mesh.Proxy.Resilience;

/// <summary>What the proxy holds of a request body, which decides whether the request can be sent more than once.</summary>
internal sealed class RequestBody
{
    public static readonly RequestBody NotCaptured = new(RequestBodyKind.NotCaptured, null);
    public static readonly RequestBody Empty = new(RequestBodyKind.Empty, null);
    public static readonly RequestBody TooLarge = new(RequestBodyKind.TooLarge, null);

    private RequestBody(RequestBodyKind kind, byte[]? bytes)
    {
        Kind = kind;
        Bytes = bytes;
    }

    public RequestBodyKind Kind { get; }

    /// <summary>The whole body, when <see cref="Kind"/> is <see cref="RequestBodyKind.Buffered"/>.</summary>
    public byte[]? Bytes { get; }

    /// <summary>Whether the request can be sent again: it has no body, or the whole body is in memory.</summary>
    public bool Replayable => Kind is RequestBodyKind.Empty or RequestBodyKind.Buffered;

    public static RequestBody Buffered(byte[] bytes) => new(RequestBodyKind.Buffered, bytes);

    /// <summary>
    /// Reads a body of at most <paramref name="limit"/> bytes into memory and puts a rewindable copy back on the request,
    /// so that the first try streams it as usual and retries (or the mirror) can resend it. A larger body is not kept:
    /// what was read to find that out is put back in front of the rest, and the request is sent once, streamed.
    /// </summary>
    public static async ValueTask<RequestBody> CaptureAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        var canHaveBody = request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        if (!canHaveBody || request.ContentLength == 0)
        {
            return Empty;
        }

        if (request.ContentLength > limit)
        {
            return TooLarge;
        }

        // Known length: read exactly that. Unknown (chunked, or HTTP/2 without content-length): read one byte past
        // the limit to learn whether it fits.
        var buffer = new byte[request.ContentLength is { } length ? (int)length : limit + 1];
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await request.Body.ReadAsync(buffer.AsMemory(total), cancellationToken);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        if (total > limit)
        {
            request.Body = new PrefixedReadStream(buffer.AsMemory(0, total), request.Body);
            return TooLarge;
        }

        var bytes = total == buffer.Length ? buffer : buffer[..total];
        request.Body = new MemoryStream(bytes, writable: false);
        return total == 0 ? Empty : Buffered(bytes);
    }
}

internal enum RequestBodyKind
{
    /// <summary>Nothing was read: neither retries nor a mirror needed the body.</summary>
    NotCaptured,

    /// <summary>The request has no body.</summary>
    Empty,

    /// <summary>The whole body is in <see cref="RequestBody.Bytes"/>.</summary>
    Buffered,

    /// <summary>The body is over the replay limit and is streamed once.</summary>
    TooLarge,
}

/// <summary>A read-only stream that returns some bytes already read, then the rest of the inner stream.</summary>
internal sealed class PrefixedReadStream(ReadOnlyMemory<byte> prefix, Stream inner) : UnseekableStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override bool CanRead => true;

    public override bool CanWrite => false;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_prefix.IsEmpty)
        {
            return inner.Read(buffer);
        }

        return TakePrefix(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_prefix.IsEmpty)
        {
            return inner.ReadAsync(buffer, cancellationToken);
        }

        return ValueTask.FromResult(TakePrefix(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int TakePrefix(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _prefix.Length);
        _prefix.Span[..count].CopyTo(buffer);
        _prefix = _prefix[count..];
        return count;
    }
}
