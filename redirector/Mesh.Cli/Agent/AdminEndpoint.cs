using System.Text.Json;
using Mesh.Cli.Agent.Flows;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Cli.Agent;

/// <summary>
/// The agent's administrative API, on a Unix socket only root can open (mode 0600): nothing
/// administrative listens on an address another host could reach. HTTP over the socket lets the
/// CLI use HttpClient and the agent use Kestrel instead of a protocol of our own.
/// GET /v1/flows[?follow=true&amp;service=S&amp;verdict=V] streams flows as JSON lines.
/// </summary>
internal sealed class AdminEndpoint : IHostedService, IAsyncDisposable
{
    private readonly AgentConfig _config;
    private readonly RunOverrides _overrides;
    private readonly FlowHistory _flows;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<AdminEndpoint> _logger;
    private WebApplication? _app;
    private string? _socketPath;

    public AdminEndpoint(AgentConfig config, RunOverrides overrides, FlowHistory flows, ILoggerFactory loggerFactory)
    {
        _config = config;
        _overrides = overrides;
        _flows = flows;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<AdminEndpoint>();
    }

    /// <summary>Where the agent with pin directory <paramref name="pinDirectory"/> listens.</summary>
    public static string SocketPathFor(string pinDirectory) => Path.ChangeExtension(AgentState.PathFor(pinDirectory), ".sock");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _socketPath = SocketPathFor(_overrides.PinDirectoryFor(_config.Initial));
        Directory.CreateDirectory(Path.GetDirectoryName(_socketPath)!);
        File.Delete(_socketPath); // left by an agent that was killed
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(_socketPath));
        _app = builder.Build();
        _app.MapGet("/v1/flows", StreamFlowsAsync);
        await _app.StartAsync(cancellationToken);
        File.SetUnixFileMode(_socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _logger.LogInformation("Admin API on unix socket {Socket} (owner only)", _socketPath);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
        if (_socketPath is not null)
        {
            File.Delete(_socketPath);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private async Task StreamFlowsAsync(HttpContext context, bool follow = false, string? service = null, string? verdict = null)
    {
        if (verdict is not null && !FlowRecord.Verdicts.Contains(verdict))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync($"unknown verdict '{verdict}'; use one of {string.Join(", ", FlowRecord.Verdicts)}");
            return;
        }
        context.Response.ContentType = "application/x-ndjson";
        var flows = follow ? _flows.FollowAsync(context.RequestAborted) : _flows.Recent().ToAsyncEnumerable();
        try
        {
            await foreach (var flow in flows.WithCancellation(context.RequestAborted))
            {
                if (!flow.Matches(service, verdict))
                {
                    continue;
                }
                await context.Response.WriteAsync(JsonSerializer.Serialize(flow) + "\n", context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The follower went away.
        }
    }
}
