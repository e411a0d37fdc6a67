using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Mesh.Datapath.Maps;
using Mesh.Kernel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Mesh.Kernel.Tests.Splice;

/// <summary>
/// The failure modes reported against sockmap splicing elsewhere (Cilium dropped its sockmap
/// acceleration as broken; others saw stalls and truncated responses): slow readers, MSG_PEEK,
/// sockets leaving the map with bytes queued, and sustained parallel load. Each test proves on a
/// spliced connection that every byte arrives, in order, without stalls, and that the counters
/// show the bytes really were redirected rather than quietly handed to TCP.
/// </summary>
public sealed class SockmapFailureModeTests(ITestOutputHelper output)
{
    private const int KiB = 1024;
    private const int MiB = 1024 * KiB;

    /// <summary>A connection that makes no progress for this long is stalled.</summary>
    private static readonly TimeSpan StallThreshold = TimeSpan.FromSeconds(1);

    /// <summary>
    /// CPU a connection may burn without progress before it counts as spinning: between two progress
    /// events an end hashes at most 1 MiB and copies 64 KiB, about 1 ms.
    /// </summary>
    private static readonly TimeSpan SpinThreshold = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the load's sampler looks at every connection's threads.</summary>
    private static readonly TimeSpan SamplePeriod = TimeSpan.FromMilliseconds(100);

    /// <summary>How long one connection runs the load's loops before the load, so the runtime has compiled them for good.</summary>
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(2);

    /// <summary>Time to make the load's 400 threads before the clients start together.</summary>
    private static readonly TimeSpan LaunchTime = TimeSpan.FromSeconds(5);

    /// <summary>Bound for single-connection tests; each needs a few seconds at most.</summary>
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The issue demands 60 s of sustained parallel load: rare stalls and slow leaks (queued bytes,
    /// psock references) need many thousands of round trips to show. This makes the test long by design.
    /// </summary>
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(60);

    /// <summary>How long the reader of the held-back test reads nothing: the issue asks for 30 s.</summary>
    private static readonly TimeSpan ReaderStall = TimeSpan.FromSeconds(30);

    private const int LoadConnections = 200;
    private const int LoadMessage = MiB;

    [Fact]
    public async Task Send_ReceiverReadsSlowly_ArrivesIntactWithoutStall()
    {
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        // Both ends run on their own threads with blocking calls: the gaps then measure the datapath,
        // not the thread pool, which the test host starves for up to a second at process start.
        using var pair = BlockingLoopbackPair.Connect(listener, TestTimeout);
        const int readSize = 64 * KiB;
        var readPause = TimeSpan.FromMilliseconds(10);
        var payload = SocketStreams.RandomBytes(16 * MiB);
        var received = new byte[payload.Length];
        var sendGaps = new GapMeter();
        var readGaps = new GapMeter();
        long sent = 0;
        var before = cgroup.Counters();
        var clock = Stopwatch.StartNew();

        var sending = Task.Factory.StartNew(() =>
        {
            for (var offset = 0; offset < payload.Length;)
            {
                var count = pair.Client.Send(payload, offset, Math.Min(readSize, payload.Length - offset), SocketFlags.None);
                offset += count;
                Interlocked.Add(ref sent, count);
                sendGaps.Mark();
            }
            return clock.Elapsed;
        }, TaskCreationOptions.LongRunning);
        var reading = Task.Factory.StartNew(() =>
        {
            var (total, reads, peakQueued) = (0, 0, 0L);
            while (total < received.Length)
            {
                var read = pair.Server.Receive(received, total, Math.Min(readSize, received.Length - total), SocketFlags.None);
                if (read == 0)
                {
                    break;
                }
                readGaps.Mark();
                total += read;
                reads++;
                peakQueued = Math.Max(peakQueued, Interlocked.Read(ref sent) - total);
                Thread.Sleep(readPause);
            }
            return (total, reads, peakQueued, clock.Elapsed);
        }, TaskCreationOptions.LongRunning);
        var sendingTook = await sending;
        var (total, reads, peakQueued, readingTook) = await reading;
        var moved = cgroup.Counters().Minus(before);

        output.WriteLine($"sender done after {sendingTook.TotalMilliseconds:0} ms, reader after {readingTook.TotalMilliseconds:0} ms in {reads} reads");
        output.WriteLine($"max gap: between sends {sendGaps.MaxGap.TotalMilliseconds:0} ms, between reads {readGaps.MaxGap.TotalMilliseconds:0} ms");
        output.WriteLine($"peak bytes sent but not yet read: {peakQueued} ({peakQueued / (double)MiB:0.0} MiB)");
        output.WriteLine($"counters: {moved}");
        Assert.Equal(payload.Length, total);
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(received));
        // The reader really was slow (one read of at most 64 KiB per pause), so the sender was ahead of it.
        Assert.True(readingTook >= reads * readPause, $"reading took {readingTook}, {reads} reads");
        Assert.True(sendGaps.MaxGap < StallThreshold, $"sender made no progress for {sendGaps.MaxGap}");
        Assert.True(readGaps.MaxGap < StallThreshold, $"reader got nothing for {readGaps.MaxGap}");
        // Spliced until the slow reader's queue held its receive buffer, then TCP's flow control.
        Assert.True(moved.BytesRedirected > 0, $"{moved}");
        Assert.Equal((ulong)payload.Length, moved.BytesRedirected + moved.BytesPassed);
        Assert.Equal(0UL, moved.LookupsMissed);
    }

    /// <summary>
    /// A spliced sender whose reader stops reading is held back at about the reader's receive buffer:
    /// the redirect hands the direction to TCP once the reader's splice queue reaches its SO_RCVBUF,
    /// and TCP's flow control stops the sender (sk_msg itself cannot make a sender wait). The reader
    /// then stalls for <see cref="ReaderStall"/> and finally reads every byte, in order.
    /// </summary>
    [Fact]
    public async Task Send_ReceiverStopsReading_SenderIsHeldBackAndEveryByteArrivesInOrder()
    {
        const long cap = 64L * MiB; // far beyond what TCP buffers: enough to tell held back from not
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        using var pair = BlockingLoopbackPair.Connect(listener, TestTimeout);
        var message = SocketStreams.RandomBytes(64 * KiB);
        var stream = new MemoryStream();
        var before = cgroup.Counters();
        pair.Client.Blocking = false;
        long accepted = 0, peakHeld = 0;
        var clock = Stopwatch.StartNew();
        // The sender retries whenever TCP lets it for the whole stall, as a busy producer would.
        while (clock.Elapsed < ReaderStall && accepted < cap)
        {
            try
            {
                var sent = pair.Client.Send(message);
                stream.Write(message, 0, sent);
                accepted += sent;
            }
            catch (SocketException error) when (error.SocketErrorCode == SocketError.WouldBlock)
            {
                Thread.Sleep(50);
            }
            peakHeld = Math.Max(peakHeld, accepted - TcpProbe.UnsentBytes(pair.Client));
        }
        var receiveBuffer = pair.Server.ReceiveBufferSize;
        var moved = cgroup.Counters().Minus(before);
        pair.Client.Shutdown(SocketShutdown.Send);
        pair.Client.Blocking = true;
        var received = new MemoryStream();
        var buffer = new byte[MiB];
        for (int read; (read = pair.Server.Receive(buffer)) > 0;)
        {
            received.Write(buffer, 0, read);
        }

        output.WriteLine($"accepted {accepted / (double)MiB:0.00} MiB while the reader stalled {ReaderStall.TotalSeconds:0} s; "
            + $"peak held for the reader {peakHeld / (double)KiB:0} KiB; reader SO_RCVBUF {receiveBuffer / KiB} KiB; counters {moved}");
        Assert.True(accepted < cap, $"the sender was not held back within {cap} bytes");
        Assert.True(peakHeld <= 2L * receiveBuffer + message.Length, $"{peakHeld} bytes waited for the reader, bound {2L * receiveBuffer + message.Length}");
        Assert.True(moved.BytesRedirected > 0, $"nothing was spliced before the hold: {moved}");
        Assert.True(moved.MessagesHeldForReader > 0, $"{moved}");
        Assert.Equal(accepted, received.Length);
        Assert.Equal(SocketStreams.Sha256(stream.ToArray()), SocketStreams.Sha256(received.ToArray()));
    }

    /// <summary>
    /// A direction that went on over TCP comes back to the splice at its first message after the
    /// reader has taken every TCP byte (peer copied_seq == own write_seq): the rule remembers nothing.
    /// </summary>
    [Fact]
    public async Task Send_AfterTheReaderTookEveryTcpByte_DirectionReturnsToTheSplice()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync();
        using var timeout = new CancellationTokenSource(TestTimeout);
        var burst = SocketStreams.RandomBytes(4 * MiB);
        var next = SocketStreams.RandomBytes(64 * KiB);
        var before = cgroup.Counters();

        // The reader starts late: the burst outgrows its receive buffer and goes on over TCP.
        var sending = SocketStreams.SendAllAsync(pair.Client, burst);
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        var received = await SocketStreams.ReceiveExactlyAsync(pair.Server, burst.Length, timeout.Token);
        await sending;
        var burstMoved = cgroup.Counters().Minus(before);
        var afterBurst = cgroup.Counters();
        await SocketStreams.AssertDeliveredAsync(pair.Client, pair.Server, next);
        var nextMoved = cgroup.Counters().Minus(afterBurst);

        output.WriteLine($"burst: {burstMoved}; next message: {nextMoved}");
        Assert.Equal(SocketStreams.Sha256(burst), SocketStreams.Sha256(received));
        Assert.True(burstMoved.BytesPassed > 0, $"the burst never went to TCP: {burstMoved}");
        Assert.Equal((ulong)next.Length, nextMoved.BytesRedirected);
        Assert.Equal(0UL, nextMoved.BytesPassed);
    }

    [Fact]
    public async Task Peek_SplicedBytes_ReturnsThemAndLeavesThemForReceive()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync();
        // Three sends make three messages in the receiver's queue, so peeks cross message boundaries.
        var payload = SocketStreams.RandomBytes(6000);
        var before = cgroup.Counters();
        await pair.Client.SendAsync(payload.AsMemory(0, 1000));
        await pair.Client.SendAsync(payload.AsMemory(1000, 2000));
        await pair.Client.SendAsync(payload.AsMemory(3000, 3000));
        Assert.True(pair.Server.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "the spliced bytes never made the socket readable");

        var firstPeek = await ReceiveAsync(pair.Server, 10, SocketFlags.Peek);
        var samePeek = await ReceiveAsync(pair.Server, 10, SocketFlags.Peek);
        var firstReceive = await ReceiveAsync(pair.Server, 10, SocketFlags.None);
        var restPeek = await ReceiveAsync(pair.Server, payload.Length, SocketFlags.Peek);
        var restReceive = await ReceiveAsync(pair.Server, payload.Length, SocketFlags.None);
        var moved = cgroup.Counters().Minus(before);

        output.WriteLine($"peeked {firstPeek.Length}, {samePeek.Length}, received {firstReceive.Length}, peeked {restPeek.Length}, received {restReceive.Length}; counters {moved}");
        Assert.Equal(payload[..10], firstPeek);
        Assert.Equal(payload[..10], samePeek); // a peek consumes nothing
        Assert.Equal(payload[..10], firstReceive);
        Assert.Equal(payload[10..], restPeek); // from the middle of the first message through the third
        Assert.Equal(payload[10..], restReceive);
        Assert.False(pair.Server.Poll(TimeSpan.Zero, SelectMode.SelectRead), "bytes left after everything was received");
        Assert.Equal(3UL, moved.MessagesRedirected);
        Assert.Equal((ulong)payload.Length, moved.BytesRedirected);
        Assert.Equal(0UL, moved.BytesPassed);
    }

    [Fact]
    public async Task Close_SenderLeavesMapWithBytesQueued_ReceiverReadsEveryByteThenEof()
    {
        using var cgroup = SplicedCgroup.Create();
        using var pair = await LoopbackPair.ConnectAsync();
        using var timeout = new CancellationTokenSource(TestTimeout);
        var payload = SocketStreams.RandomBytes(MiB);
        var before = cgroup.Counters();
        var mapped = cgroup.Datapath!.SpliceSocketCount();

        // Nobody reads yet: spliced, the whole megabyte waits in the receiver's queue when the sender goes.
        await SocketStreams.SendAllAsync(pair.Client, payload);
        var queued = cgroup.Counters().Minus(before);
        pair.Client.Close();
        var mappedAfterClose = cgroup.Datapath.SpliceSocketCount();
        var received = await SocketStreams.ReceiveToEndAsync(pair.Server, timeout.Token);

        output.WriteLine($"sockets in map {mapped} -> {mappedAfterClose}; counters {queued}; received {received.Length}");
        Assert.Equal(2, mapped);
        Assert.Equal(1, mappedAfterClose); // the sender left the map on close, the receiver stays until it closes
        // Spliced until the reader's queue held its receive buffer, the rest over TCP (the bound).
        Assert.True(queued.BytesRedirected > 0, $"{queued}");
        Assert.Equal((ulong)payload.Length, queued.BytesRedirected + queued.BytesPassed);
        Assert.Equal(payload.Length, received.Length); // ReceiveToEndAsync returned: EOF came after the last byte
        Assert.Equal(SocketStreams.Sha256(payload), SocketStreams.Sha256(received));
    }

    [Fact]
    public async Task Detach_WithBytesQueued_ReceiverReadsEveryByteAndConnectionKeepsWorking()
    {
        using var cgroup = SplicedCgroup.Create();
        using var counters = cgroup.OpenCounters(); // still readable after Detach unpins the map
        using var pair = await LoopbackPair.ConnectAsync();
        using var timeout = new CancellationTokenSource(TestTimeout);
        var queuedPayload = SocketStreams.RandomBytes(MiB);
        var request = SocketStreams.RandomBytes(MiB);
        var response = SocketStreams.RandomBytes(MiB);
        var before = SpliceCounterReader.Read(counters);

        await SocketStreams.SendAllAsync(pair.Client, queuedPayload);
        var queued = SpliceCounterReader.Read(counters).Minus(before);
        cgroup.Detach();
        var pinsLeft = Directory.Exists(cgroup.PinDirectory);
        var afterDetach = SpliceCounterReader.Read(counters);
        var received = await SocketStreams.ReceiveExactlyAsync(pair.Server, queuedPayload.Length, timeout.Token);

        var upstream = SocketStreams.SendAllAsync(pair.Client, request);
        var downstream = SocketStreams.SendAllAsync(pair.Server, response);
        var requestReceived = await SocketStreams.ReceiveExactlyAsync(pair.Server, request.Length, timeout.Token);
        var responseReceived = await SocketStreams.ReceiveExactlyAsync(pair.Client, response.Length, timeout.Token);
        await Task.WhenAll(upstream, downstream);
        var afterTraffic = SpliceCounterReader.Read(counters).Minus(afterDetach);

        output.WriteLine($"before detach {queued}; pins left {pinsLeft}; after detach {afterTraffic}");
        Assert.True(queued.BytesRedirected > 0, $"{queued}");
        Assert.Equal((ulong)queuedPayload.Length, queued.BytesRedirected + queued.BytesPassed);
        Assert.False(pinsLeft);
        Assert.Equal(SocketStreams.Sha256(queuedPayload), SocketStreams.Sha256(received));
        Assert.Equal(SocketStreams.Sha256(request), SocketStreams.Sha256(requestReceived));
        Assert.Equal(SocketStreams.Sha256(response), SocketStreams.Sha256(responseReceived));
        // Detach stops splicing new connections only: sockets already in the map keep their program
        // until they close (SpliceDatapath), so both directions are still redirected (up to the bound).
        Assert.True(afterTraffic.BytesRedirected > 0, $"{afterTraffic}");
        Assert.Equal((ulong)(request.Length + response.Length), afterTraffic.BytesRedirected + afterTraffic.BytesPassed);
    }

    /// <summary>
    /// A stall is a connection making no progress (no byte sent or received on either end) for
    /// <see cref="StallThreshold"/> while only the datapath could move it: both of its threads were
    /// asleep inside a send or receive at every sample of that silence (bytes or a wakeup lost, a
    /// send blocked for good), or its threads burnt <see cref="SpinThreshold"/> of CPU in it (a
    /// livelock). Waiting on the run queue behind the other busy threads (400 on 2 cores) or for the
    /// runtime is not a stall; that raw silence is measured and reported as the max gap.
    /// </summary>
    [Fact]
    public async Task RequestResponse_200ParallelConnectionsFor60Seconds_NoErrorNoStallEveryResponseIntact()
    {
        using var cgroup = SplicedCgroup.Create();
        using var listener = LoopbackPair.Listen(IPAddress.Loopback);
        // The runtime recompiles hot methods after their first calls and then stops every thread to
        // remove its call counters; with 400 busy threads on 2 cores that stop took seconds. One
        // connection running the same loops for a moment first gets that done while it is cheap.
        using (var warmUp = new LoadConnection(-1, BlockingLoopbackPair.Connect(listener, TimeSpan.FromSeconds(30))))
        {
            var start = Stopwatch.GetTimestamp();
            var server = Task.Factory.StartNew(warmUp.RunServer, TaskCreationOptions.LongRunning);
            var client = Task.Factory.StartNew(() => warmUp.RunClient(start, WarmUpTime), TaskCreationOptions.LongRunning);
            await Task.WhenAll(client, server).WaitAsync(WarmUpTime + TimeSpan.FromSeconds(30));
            Assert.Empty(warmUp.Errors);
        }
        var before = cgroup.Counters();
        var connections = new List<LoadConnection>();
        try
        {
            for (var i = 0; i < LoadConnections; i++)
            {
                connections.Add(new LoadConnection(i, BlockingLoopbackPair.Connect(listener, TimeSpan.FromSeconds(30))));
            }
            // One thread per end with blocking calls: a thread sleeps in the kernel until the datapath
            // wakes it, so the kernel's view of the thread tells a datapath wait from a CPU wait.
            // Threads are made while the cores are idle (servers block in Receive, clients sleep) and
            // the clients start together on a timer. Starting threads on busy cores, or releasing them
            // through one lock (ManualResetEventSlim), took up to 15 s, spliced or not.
            var launched = Stopwatch.GetTimestamp() + (long)(LaunchTime.TotalSeconds * Stopwatch.Frequency);
            using var ready = new CountdownEvent(2 * LoadConnections);
            var loops = connections.SelectMany(connection => new[]
            {
                Task.Factory.StartNew(() =>
                {
                    connection.WatchClientThread();
                    ready.Signal();
                    if (Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), launched) is { Ticks: > 0 } wait)
                    {
                        Thread.Sleep(wait);
                    }
                    connection.RunClient(launched, LoadDuration);
                }, TaskCreationOptions.LongRunning),
                Task.Factory.StartNew(() =>
                {
                    connection.WatchServerThread();
                    ready.Signal();
                    connection.RunServer();
                }, TaskCreationOptions.LongRunning),
            }).ToArray();
            Assert.True(ready.Wait(LaunchTime), $"the {2 * LoadConnections} load threads were not ready within {LaunchTime}");
            // Collect the setup's garbage now: a collection during the load stops all 400 threads,
            // which on 2 busy cores took seconds and would show in every connection's gaps.
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var collectionsBefore = GC.CollectionCount(0);
            var all = Task.WhenAll(loops);

            // The sampler has its own thread too, so the thread pool cannot delay it.
            var counterSteps = new List<ulong>();
            var silentSamples = new long[3];
            var abandoned = false;
            var sampling = Task.Factory.StartNew(() =>
            {
                var lastRedirected = before.BytesRedirected;
                var nextCounters = launched + Stopwatch.Frequency;
                while (!all.IsCompleted)
                {
                    Thread.Sleep(SamplePeriod);
                    if (Stopwatch.GetTimestamp() < launched)
                    {
                        continue;
                    }
                    foreach (var connection in connections)
                    {
                        connection.Sample(launched, silentSamples);
                    }
                    if (Stopwatch.GetTimestamp() >= nextCounters && !all.IsCompleted)
                    {
                        var redirected = cgroup.Counters().BytesRedirected;
                        counterSteps.Add(redirected - lastRedirected);
                        lastRedirected = redirected;
                        nextCounters += Stopwatch.Frequency;
                    }
                    var stuck = connections.Any(connection => connection.BlockedSilence > 10 * StallThreshold)
                        || Stopwatch.GetElapsedTime(launched) > LoadDuration + TimeSpan.FromSeconds(60);
                    if (stuck && !abandoned)
                    {
                        // Closing the sockets ends every blocked call: fail now, with the figures.
                        abandoned = true;
                        connections.ForEach(connection => connection.Pair.Dispose());
                    }
                }
            }, TaskCreationOptions.LongRunning);
            await all;
            await sampling;
            var elapsed = Stopwatch.GetElapsedTime(launched);
            var collections = GC.CollectionCount(0) - collectionsBefore;
            var moved = cgroup.Counters().Minus(before);

            var rounds = connections.Sum(connection => (long)connection.Rounds);
            var errors = connections.SelectMany(connection => connection.Errors).ToList();
            var stalled = connections.Where(connection => connection.BlockedSilence >= StallThreshold || connection.SpinWithoutProgress >= SpinThreshold).ToList();
            var worstGap = connections.MaxBy(connection => connection.Progress.MaxGap)!;
            var firstBytes = connections.Select(connection => connection.Progress.FirstTimestamp is var first and not 0
                ? Stopwatch.GetElapsedTime(launched, first) : TimeSpan.MaxValue).ToList();
            output.WriteLine($"{LoadConnections} connections, {elapsed.TotalSeconds:0.0} s, {rounds} round trips of 2 x {LoadMessage / MiB} MiB ({rounds * 2.0 * LoadMessage / MiB / elapsed.TotalSeconds:0} MiB/s); rounds per connection {connections.Min(c => c.Rounds)}..{connections.Max(c => c.Rounds)}");
            output.WriteLine($"stalls: {stalled.Count}; longest silence with both ends asleep in a socket call {connections.Max(c => c.BlockedSilence).TotalMilliseconds:0} ms; most CPU spent without progress {connections.Max(c => c.SpinWithoutProgress).TotalMilliseconds:0.0} ms");
            output.WriteLine($"max gap without progress (any cause): {worstGap.Progress.MaxGap.TotalMilliseconds:0} ms (connection {worstGap.Index}); connections with a gap >= {StallThreshold.TotalSeconds} s: {connections.Count(c => c.Progress.MaxGap >= StallThreshold)}; slowest first byte {firstBytes.Max().TotalMilliseconds:0} ms after launch; garbage collections during the load {collections}");
            output.WriteLine($"samples of connections silent >= {StallThreshold.TotalSeconds} s: an end runnable (waiting for the CPU) {silentSamples[LoadConnection.SilentWaitingForCpu]}, both asleep in socket calls {silentSamples[LoadConnection.SilentInSocketCalls]}, an end asleep elsewhere (runtime) {silentSamples[LoadConnection.SilentElsewhere]}");
            output.WriteLine($"redirected per 1 s: {counterSteps.DefaultIfEmpty().Min() / MiB}..{counterSteps.DefaultIfEmpty().Max() / MiB} MiB over {counterSteps.Count} samples; counters {moved}");
            foreach (var error in errors.Take(10))
            {
                output.WriteLine($"error: {error}");
            }

            Assert.False(abandoned, "the load was abandoned: a connection sat blocked in its socket calls without progress for 10 s");
            Assert.Empty(errors);
            Assert.Empty(stalled.Select(connection => connection.Index));
            Assert.True(elapsed >= LoadDuration, $"the load ran {elapsed}, not {LoadDuration}");
            Assert.All(connections, connection => Assert.True(connection.Rounds > 0, $"connection {connection.Index} never completed a round"));
            Assert.Equal((ulong)(2 * LoadConnections), moved.SocketsRegistered);
            // Every request and every response byte went through the splice and none through TCP.
            // Every connection stays spliced; a 1 MiB message a reader has not caught up with goes on
            // over TCP (the bound on bytes queued for a reader), so most but not all bytes are redirected.
            Assert.Equal((ulong)(2 * LoadConnections), moved.DirectionsSpliced);
            Assert.Equal((ulong)rounds * 2UL * LoadMessage, moved.BytesRedirected + moved.BytesPassed);
            Assert.True(moved.BytesRedirected >= 9 * moved.BytesPassed, $"{moved}");
            Assert.Equal(0UL, moved.LookupsMissed);
            Assert.NotEmpty(counterSteps);
            Assert.All(counterSteps, step => Assert.True(step > 0, "a whole second passed without a redirected byte"));
        }
        finally
        {
            connections.ForEach(connection => connection.Dispose());
        }
    }

    private static async Task<byte[]> ReceiveAsync(Socket socket, int size, SocketFlags flags)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var buffer = new byte[size];
        var read = await socket.ReceiveAsync(buffer, flags, timeout.Token);
        return buffer[..read];
    }

    /// <summary>
    /// One connection of the load test. The client sends a 1 MiB request and waits for the 1 MiB
    /// response; the server reads the request whole and answers. Each message carries the
    /// connection's index and the round in its first bytes and is checked by SHA-256 against what
    /// the sender sent, so a message delivered twice, to the wrong connection or out of order fails.
    /// </summary>
    private sealed class LoadConnection : IDisposable
    {
        /// <summary>Indexes of the sampler's tally of samples of connections silent for a second or more, by what their threads were doing.</summary>
        public const int SilentWaitingForCpu = 0, SilentInSocketCalls = 1, SilentElsewhere = 2;

        private const int Chunk = 64 * KiB;

        // Everything the loops touch is allocated here: they allocate nothing, so no garbage
        // collection has to stop 400 busy threads in the middle of the measurement.
        private readonly byte[] _request = SocketStreams.RandomBytes(LoadMessage);
        private readonly byte[] _response = SocketStreams.RandomBytes(LoadMessage);
        private readonly byte[] _requestSha = new byte[SHA256.HashSizeInBytes];
        private readonly byte[] _responseSha = new byte[SHA256.HashSizeInBytes];
        private readonly ConcurrentQueue<string> _errors = new();
        private volatile bool _clientDone;
        private volatile bool _serverDone;
        private KernelThread? _clientThread;
        private KernelThread? _serverThread;
        private long _silenceStart;
        private long _silenceCpu;
        private bool _blockedThroughout;

        public LoadConnection(int index, BlockingLoopbackPair pair)
        {
            Index = index;
            Pair = pair;
        }

        public int Index { get; }

        /// <summary>Blocking sockets with 30 s timeouts: no thread outlives the test whatever the datapath does.</summary>
        public BlockingLoopbackPair Pair { get; }

        /// <summary>Starts with the connection's first byte: 400 loops launched at once wait their turn to start.</summary>
        public GapMeter Progress { get; } = new(started: false);

        public int Rounds { get; private set; }

        /// <summary>The longest silence during which every sample found both ends asleep in a socket call.</summary>
        public TimeSpan BlockedSilence { get; private set; }

        /// <summary>The most CPU both ends used between two progress events.</summary>
        public TimeSpan SpinWithoutProgress { get; private set; }

        public bool Finished => _clientDone && _serverDone;

        public IReadOnlyCollection<string> Errors => _errors;

        /// <summary>Called by the sampler only. A new silence starts with each progress event (or the launch).</summary>
        public void Sample(long launched, long[] silentSamples)
        {
            if (Finished || Volatile.Read(ref _clientThread)?.Read() is not { } client || Volatile.Read(ref _serverThread)?.Read() is not { } server)
            {
                return;
            }
            var last = Progress.LastTimestamp is var mark and not 0 ? mark : launched;
            Progress.Observe();
            var blocked = client.AsleepInSocketCall && server.AsleepInSocketCall;
            var cpu = client.CpuNanoseconds + server.CpuNanoseconds;
            if (Stopwatch.GetElapsedTime(last) >= StallThreshold)
            {
                // What a long silence waits for, to explain the raw gaps.
                var cause = client.State == 'R' || server.State == 'R' ? SilentWaitingForCpu : blocked ? SilentInSocketCalls : SilentElsewhere;
                silentSamples[cause]++;
            }
            if (last != _silenceStart)
            {
                (_silenceStart, _silenceCpu, _blockedThroughout) = (last, cpu, blocked);
                return;
            }
            // Neither end can go back to sleep in a socket call without progress first (every
            // blocking call is preceded by one that moved bytes), so "blocked at every sample"
            // means blocked throughout, however late the sampler gets the CPU.
            _blockedThroughout &= blocked;
            var silence = Stopwatch.GetElapsedTime(last);
            if (_blockedThroughout && silence > BlockedSilence)
            {
                BlockedSilence = silence;
            }
            if (TimeSpan.FromTicks((cpu - _silenceCpu) / 100) is var spent && spent > SpinWithoutProgress)
            {
                SpinWithoutProgress = spent;
            }
        }

        /// <summary>Called on the thread that will run the client, before it starts.</summary>
        public void WatchClientThread() => Volatile.Write(ref _clientThread, KernelThread.Current());

        /// <summary>Called on the thread that will run the server, before it starts.</summary>
        public void WatchServerThread() => Volatile.Write(ref _serverThread, KernelThread.Current());

        public void RunClient(long launched, TimeSpan duration)
        {
            try
            {
                var buffer = new byte[Chunk];
                var received = new byte[SHA256.HashSizeInBytes];
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                for (var round = 1; Stopwatch.GetElapsedTime(launched) < duration; round++)
                {
                    Stamp(_request, round);
                    SHA256.HashData(_request, _requestSha); // known to the server before the first byte leaves
                    Send(Pair.Client, _request);
                    if (!ReceiveHashed(Pair.Client, buffer, hash, received, round))
                    {
                        _errors.Enqueue($"connection {Index} round {round}: EOF instead of the response");
                        return;
                    }
                    if (!received.AsSpan().SequenceEqual(_responseSha))
                    {
                        _errors.Enqueue($"connection {Index} round {round}: response SHA-256 differs");
                        return;
                    }
                    Rounds = round;
                }
                Pair.Client.Shutdown(SocketShutdown.Send); // tells the server loop to end
            }
            catch (Exception error)
            {
                _errors.Enqueue($"connection {Index} client: {error.GetType().Name}: {error.Message}");
            }
            finally
            {
                _clientDone = true;
            }
        }

        public void RunServer()
        {
            try
            {
                var buffer = new byte[Chunk];
                var received = new byte[SHA256.HashSizeInBytes];
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                for (var round = 1; ReceiveHashed(Pair.Server, buffer, hash, received, round); round++)
                {
                    if (!received.AsSpan().SequenceEqual(_requestSha))
                    {
                        _errors.Enqueue($"connection {Index} round {round}: request SHA-256 differs");
                        return;
                    }
                    Stamp(_response, round);
                    SHA256.HashData(_response, _responseSha);
                    Send(Pair.Server, _response);
                }
                // EOF between messages: the client's shutdown, no more rounds.
            }
            catch (Exception error)
            {
                _errors.Enqueue($"connection {Index} server: {error.GetType().Name}: {error.Message}");
            }
            finally
            {
                _serverDone = true;
            }
        }

        public void Dispose()
        {
            Pair.Dispose();
            _clientThread?.Dispose();
            _serverThread?.Dispose();
        }

        private void Stamp(byte[] message, int round)
        {
            BinaryPrimitives.WriteInt32LittleEndian(message, Index);
            BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), round);
        }

        private void Send(Socket socket, byte[] message)
        {
            for (var offset = 0; offset < message.Length;)
            {
                offset += socket.Send(message, offset, Math.Min(Chunk, message.Length - offset), SocketFlags.None);
                Progress.Mark();
            }
        }

        /// <summary>Reads one whole message into <paramref name="sha"/>; false on EOF before its first byte.</summary>
        private bool ReceiveHashed(Socket socket, byte[] buffer, IncrementalHash hash, byte[] sha, int round)
        {
            for (var total = 0; total < LoadMessage;)
            {
                var read = socket.Receive(buffer, 0, Math.Min(buffer.Length, LoadMessage - total), SocketFlags.None);
                if (read == 0)
                {
                    return total == 0 ? false : throw new InvalidDataException($"EOF after {total} of {LoadMessage} bytes in round {round}");
                }
                Progress.Mark();
                hash.AppendData(buffer, 0, read);
                total += read;
            }
            hash.GetHashAndReset(sha);
            return true;
        }
    }
}
