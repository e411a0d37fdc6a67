using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>
/// An h2c connection written frame by frame (RFC 9113), for what no HTTP/2 client library sends on purpose: streams
/// opened and reset at once by the thousand. A background reader counts what the server answers.
/// </summary>
internal sealed class RawHttp2Connection : IAsyncDisposable
{
    public const int ProtocolError = 0x1;
    public const int Cancel = 0x8;
    public const int CompressionError = 0x9;
    public const int EnhanceYourCalm = 0xb;

    private const byte TypeHeaders = 0x1;
    private const byte TypeRstStream = 0x3;
    private const byte TypeSettings = 0x4;
    private const byte TypeGoAway = 0x7;
    private const byte FlagEndStream = 0x1;
    private const byte FlagEndHeaders = 0x4;

    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly long _opened = Stopwatch.GetTimestamp();
    private readonly Task _reader;
    private int _responses;
    private int _resets;
    private int _calmResets;
    private int _goAwayCode = -1;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, int> _statuses = new();

    private RawHttp2Connection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = ReadFramesAsync();
    }

    /// <summary>The GOAWAY error code the server sent, or null before (or without) one.</summary>
    public int? GoAwayCode => Volatile.Read(ref _goAwayCode) is var code and >= 0 ? code : null;

    /// <summary>Streams the server answered with HEADERS.</summary>
    public int Responses => Volatile.Read(ref _responses);

    /// <summary>The :status the server answered on a stream, or null before (or without) an answer; 0 for one not understood.</summary>
    public int? StatusOf(int streamId) => _statuses.TryGetValue(streamId, out var status) ? status : null;

    /// <summary>RST_STREAM frames from the server, and those of them with ENHANCE_YOUR_CALM.</summary>
    public (int All, int EnhanceYourCalm) Resets => (Volatile.Read(ref _resets), Volatile.Read(ref _calmResets));

    /// <summary>Whether the server closed the connection (or reset it).</summary>
    public bool Closed => _reader.IsCompleted;

    /// <summary>Whether the server ended the connection with a TCP reset rather than a close.</summary>
    public bool Reset { get; private set; }

    /// <summary>How long after opening the server closed the connection.</summary>
    public TimeSpan? ClosedAfter { get; private set; }

    /// <summary>Connects and sends the connection preface and an empty SETTINGS frame.</summary>
    public static async Task<RawHttp2Connection> OpenAsync(IPEndPoint endPoint)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(endPoint);
            var connection = new RawHttp2Connection(client);
            await client.GetStream().WriteAsync(Preface.Concat(Frame(TypeSettings, 0, 0, [])).ToArray());
            return connection;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A GET of / with the given :authority and header fields, ending the stream, in one HEADERS frame (HPACK: static-table
    /// entries for the pseudo-headers, literals without indexing for the rest).
    /// </summary>
    public static byte[] Get(int streamId, string authority, params (string Name, string Value)[] headers)
    {
        // :method GET (2), :scheme http (6), :path / (4), then :authority (name 1) as a literal without indexing.
        var block = new List<byte> { 0x82, 0x86, 0x84, 0x01 };
        AddString(block, authority);
        foreach (var (name, value) in headers)
        {
            block.Add(0x00);
            AddString(block, name);
            AddString(block, value);
        }

        return Frame(TypeHeaders, FlagEndHeaders | FlagEndStream, streamId, [.. block]);
    }

    /// <summary>
    /// <paramref name="count"/> streams from <paramref name="firstStreamId"/> on (odd ids, as a client's), each a
    /// <see cref="Get"/> followed at once by its <see cref="RstStream"/>: the rapid-reset pattern, built without per-frame allocations.
    /// </summary>
    public static byte[] GetsAndResets(int firstStreamId, int count, string authority)
    {
        byte[] pair = [.. Get(1, authority), .. RstStream(1)];
        var rstOffset = pair.Length - 13;
        var frames = new byte[pair.Length * count];
        for (var i = 0; i < count; i++)
        {
            var at = frames.AsSpan(i * pair.Length, pair.Length);
            pair.CopyTo(at);
            var streamId = firstStreamId + 2 * i;
            BinaryPrimitives.WriteInt32BigEndian(at[5..], streamId);
            BinaryPrimitives.WriteInt32BigEndian(at[(rstOffset + 5)..], streamId);
        }

        return frames;
    }

    public static byte[] RstStream(int streamId, int errorCode = Cancel)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, errorCode);
        return Frame(TypeRstStream, 0, streamId, payload);
    }

    /// <summary>Writes frames; false when the server has closed the connection.</summary>
    public async Task<bool> TryWriteAsync(byte[] frames)
    {
        if (Closed)
        {
            return false;
        }

        try
        {
            await _stream.WriteAsync(frames);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Waits until the server answered <paramref name="count"/> streams, for at most <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForResponsesAsync(int count, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (Responses < count && !Closed && waited.Elapsed < timeout)
        {
            await Task.Delay(10);
        }

        return Responses >= count;
    }

    /// <summary>Waits until the server closes the connection, for at most <paramref name="timeout"/>; true when it did.</summary>
    public async Task<bool> WaitClosedAsync(TimeSpan timeout)
    {
        await Task.WhenAny(_reader, Task.Delay(timeout));
        return Closed;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _reader;
    }

    /// <summary>An HPACK string literal, not Huffman-coded: its length as a 7-bit-prefix integer (RFC 7541, 5.1), then its bytes.</summary>
    private static void AddString(List<byte> block, string text)
    {
        var length = text.Length;
        if (length < 127)
        {
            block.Add((byte)length);
        }
        else
        {
            block.Add(127);
            for (length -= 127; length >= 128; length >>= 7)
            {
                block.Add((byte)((length & 0x7f) | 0x80));
            }

            block.Add((byte)length);
        }

        block.AddRange(Encoding.ASCII.GetBytes(text));
    }

    private static byte[] Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        return frame;
    }

    private async Task ReadFramesAsync()
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                var read = await _stream.ReadAsync(buffer.AsMemory(filled));
                if (read == 0)
                {
                    return;
                }

                filled += read;
                var offset = 0;
                while (filled - offset >= 9)
                {
                    var length = (buffer[offset] << 16) | (buffer[offset + 1] << 8) | buffer[offset + 2];
                    if (filled - offset < 9 + length)
                    {
                        break;
                    }

                    OnFrame(buffer[offset + 3], BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(offset + 5)) & int.MaxValue, buffer.AsSpan(offset + 9, length));
                    offset += 9 + length;
                }

                Buffer.BlockCopy(buffer, offset, buffer, 0, filled - offset);
                filled -= offset;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            Reset = e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionReset } };
        }
        finally
        {
            ClosedAfter = Stopwatch.GetElapsedTime(_opened);
        }
    }

    /// <summary>
    /// The :status of a response's first header field, as Kestrel encodes it: an indexed static-table entry (200, 204,
    /// 206, 304, 400, 404, 500), or a literal with the name :status (index 8) and the code in plain digits; else 0.
    /// </summary>
    private static int Status(ReadOnlySpan<byte> block)
    {
        if (block.Length > 0 && block[0] is >= 0x88 and <= 0x8e)
        {
            return new[] { 200, 204, 206, 304, 400, 404, 500 }[block[0] - 0x88];
        }

        if (block.Length >= 5 && block[0] is 0x08 or 0x18 or 0x48 && block[1] == 3)
        {
            return int.Parse(Encoding.ASCII.GetString(block.Slice(2, 3)), System.Globalization.CultureInfo.InvariantCulture);
        }

        return 0;
    }

    private void OnFrame(byte type, int streamId, ReadOnlySpan<byte> payload)
    {
        switch (type)
        {
            case TypeHeaders:
                Interlocked.Increment(ref _responses);
                _statuses[streamId] = Status(payload);
                break;
            case TypeRstStream:
                Interlocked.Increment(ref _resets);
                if (BinaryPrimitives.ReadInt32BigEndian(payload) == EnhanceYourCalm)
                {
                    Interlocked.Increment(ref _calmResets);
                }

                break;
            case TypeGoAway:
                Interlocked.CompareExchange(ref _goAwayCode, BinaryPrimitives.ReadInt32BigEndian(payload[4..]), -1);
                break;
        }
    }
}
