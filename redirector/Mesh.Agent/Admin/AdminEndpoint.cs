using System.Text.Json;
using Mesh.Agent.Flows;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mesh.Agent.Admin;

/// <summary>
/// The agent's administrative API, on a Unix socket only root can open (mode 0600): nothing
/// administrative listens on an address another host could reach. HTTP over the socket lets the
/// CLI use HttpClient and the agent use Kestrel instead of a protocol of our own.
/// GET /v1/status gives <see cref="StatusSnapshot"/> as JSON; POST /v1/reload re-reads the config file now (200, or
/// 422 with one error per line, the running config kept); GET /v1/flows[?follow=true&amp;service=S&amp;verdict=V]
/// streams flows as JSON lines.
/// </summary>
internal sealed class AdminEndpoint : IHostedService, IAsyncDisposable
{
    private readonly AgentConfig _config;
    private readonly AgentOverrides _overrides;
    private readonly FlowHistory _flows;
    private readonly AgentStatusSource _status;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<AdminEndpoint> _logger;
    private WebApplication? _app;
    private string? _socketPath;

    public AdminEndpoint(AgentConfig config, AgentOverrides overrides, FlowHistory flows, AgentStatusSource status, ILoggerFactory loggerFactory)
    {
        _config = config;
        _overrides = overrides;
        _flows = flows;
        _status = status;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<AdminEndpoint>();
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _socketPath = AgentState.AdminSocketPathFor(_overrides.PinDirectoryFor(_config.Current));
        Directory.CreateDirectory(Path.GetDirectoryName(_socketPath)!);
        File.Delete(_socketPath); // left by an agent that was killed
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(_socketPath));
        _app = builder.Build();
        _app.MapGet("/v1/flows", StreamFlowsAsync);
        _app.MapGet("/v1/status", () => _status.Snapshot() is { } snapshot
            ? Results.Json(snapshot, StatusSnapshot.Json)
            : Results.Text("the agent is still starting", statusCode: StatusCodes.Status503ServiceUnavailable));
        _app.MapPost("/v1/reload", Reload);
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

    private IResult Reload()
    {
        if (_config.ReloadNow() is not { } result)
        {
            return Results.Text($"the agent runs on {_config.Description}, which has no file to re-read", statusCode: StatusCodes.Status409Conflict);
        }
        return result.IsValid
            ? Results.Text($"{_config.Description}: reloaded")
            : Results.Text(string.Join('\n', result.Errors), statusCode: StatusCodes.Status422UnprocessableEntity);
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
