using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Mesh.Config;
using Mesh.Proxy.Isolation;
using Mesh.Proxy.Routing;
using Mesh.Proxy.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using static Mesh.Proxy.Tests.Infrastructure.Services;

namespace Mesh.Proxy.Tests.Isolation;

/// <summary>
/// The node proxy's process as the agent drives it, over in-memory pipes instead of its standard input and output:
/// a real proxy starts, takes each generation of services, refuses a bad one keeping the last good, and drains when
/// its input ends.
/// </summary>
public sealed class ProxyInstructionServerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Run_StartUpdateRefuseThenEndOfInput_ServesEachGoodGenerationAndDrainsTheRequestInFlight()
    {
        var slowArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(async (context, _) =>
        {
            if (context.Request.Path == "/slow")
            {
                slowArrived.TrySetResult();
                await Task.Delay(500, context.RequestAborted);
            }
            await context.Response.WriteAsync("done");
        });
        await using var agent = AgentEnd.Start();
        var listen = new IPEndPoint(IPAddress.Loopback, ClosedPort().Port);

        var started = await agent.SendAsync(new ProxyInstruction
        {
            Generation = 1,
            Start = new ProxyStartSettings { Listen = [listen], ShutdownTimeout = TimeSpan.FromSeconds(5) },
            Services = [Versioned(upstream, "v1")],
        });
        using var client = new HttpClient { Timeout = Patience };
        var v1 = await GetAsync(client, listen, "/");
        var updated = await agent.SendAsync(new ProxyInstruction { Generation = 2, Services = [Versioned(upstream, "v2")] });
        var v2 = await GetAsync(client, listen, "/");
        var refused = await agent.SendAsync(new ProxyInstruction { Generation = 3, Services = [Versioned(upstream, "v3"), Versioned(upstream, "v3")] });
        var afterRefusal = await GetAsync(client, listen, "/");
        var garbled = await agent.SendLineAsync("{ not json");
        var restart = await agent.SendAsync(new ProxyInstruction { Generation = 4, Start = new ProxyStartSettings { Listen = [listen] }, Services = [] });

        var slow = GetAsync(client, listen, "/slow");
        await slowArrived.Task.WaitAsync(Patience);
        agent.EndInput();
        var ended = await agent.Run.WaitAsync(Patience);

        Assert.Equal(new ProxyAcknowledgement(1, null), started);
        Assert.Equal(new ProxyAcknowledgement(2, null), updated);
        Assert.Equal(3, refused.Generation);
        Assert.Contains("two services have this name", refused.Error);
        Assert.Equal(0, garbled.Generation);
        Assert.StartsWith("not an instruction", garbled.Error);
        Assert.Equal(4, restart.Generation);
        Assert.Contains("started already", restart.Error);
        Assert.Equal(["v1", "v2", "v2"], new[] { v1, v2, afterRefusal });
        Assert.Equal("v2", await slow);
        Assert.True(ended, "a proxy that started and drained ends its run with true");
        Assert.Equal(SocketError.ConnectionRefused, ConnectError(listen));
    }

    [Fact]
    public async Task Run_FirstInstructionWithoutStart_IsRefusedAndTheRunEnds()
    {
        await using var agent = AgentEnd.Start();

        var answer = await agent.SendAsync(new ProxyInstruction { Generation = 1, Services = [] });

        Assert.Equal(1, answer.Generation);
        Assert.Contains("start is missing", answer.Error);
        Assert.False(await agent.Run.WaitAsync(Patience));
    }

    [Fact]
    public async Task Run_ListenAddressInUse_TheAnswerSaysSoAndTheRunEnds()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        await using var agent = AgentEnd.Start();

        var answer = await agent.SendAsync(new ProxyInstruction
        {
            Generation = 7,
            Start = new ProxyStartSettings { Listen = [(IPEndPoint)occupant.LocalEndpoint] },
            Services = [],
        });

        Assert.Equal(7, answer.Generation);
        Assert.Contains("address already in use", answer.Error, StringComparison.OrdinalIgnoreCase);
        Assert.False(await agent.Run.WaitAsync(Patience));
    }

    private static ServiceConfig Versioned(TestUpstream upstream, string version) =>
        Service("web", 1, upstream, Route("all") with { Filters = [new ResponseHeaderModifierFilter(new HeaderModifier { Set = [new HttpHeader("x-config", version)] })] });

    /// <summary>A request for the service "web" on its own connection; the x-config its answer carries.</summary>
    private static async Task<string> GetAsync(HttpClient client, IPEndPoint proxy, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{proxy}{path}");
        request.Headers.Host = Address(1).ToString();
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single(response.Headers.GetValues("x-config"));
    }

    private static SocketError ConnectError(IPEndPoint endpoint)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Connect(endpoint);
            return SocketError.Success;
        }
        catch (SocketException error)
        {
            return error.SocketErrorCode;
        }
    }

    /// <summary>The agent's end of the two pipes, and the server's run on the other end.</summary>
    private sealed class AgentEnd : IAsyncDisposable
    {
        private readonly Pipe _instructions = new();
        private readonly Pipe _answers = new();
        private readonly StreamWriter _writer;
        private readonly StreamReader _reader;
        private readonly CancellationTokenSource _stop = new();

        private AgentEnd()
        {
            _writer = new StreamWriter(_instructions.Writer.AsStream()) { AutoFlush = true };
            _reader = new StreamReader(_answers.Reader.AsStream());
            var server = new ProxyInstructionServer(
                new StreamReader(_instructions.Reader.AsStream()),
                new StreamWriter(_answers.Writer.AsStream()),
                new HostHeaderDestinationResolver(),
                NullLoggerFactory.Instance);
            Run = Task.Run(() => server.RunAsync(_stop.Token));
        }

        public Task<bool> Run { get; }

        public static AgentEnd Start() => new();

        public Task<ProxyAcknowledgement> SendAsync(ProxyInstruction instruction) => SendLineAsync(ProxyWireFormat.Write(instruction));

        public async Task<ProxyAcknowledgement> SendLineAsync(string line)
        {
            await _writer.WriteLineAsync(line);
            var answer = await _reader.ReadLineAsync().WaitAsync(Patience);
            return ProxyWireFormat.Read<ProxyAcknowledgement>(answer ?? throw new EndOfStreamException("the server ended without answering"));
        }

        /// <summary>As when the agent closes the proxy's standard input, or dies.</summary>
        public void EndInput() => _writer.Dispose();

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _writer.Dispose();
            await Run.WaitAsync(Patience);
            _stop.Dispose();
        }
    }
}
