using System.Collections.Concurrent;
using System.Net;
using Mesh.Kernel.Tests.Agent;
using Mesh.Kernel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Mesh.Kernel.Tests.L7;

/// <summary>
/// One node for the L7 tests: real Kestrel upstreams, a config with HTTP policy for them, and the
/// `mesh` agent running on it in a child cgroup. Clients inside the cgroup dial service addresses
/// directly, with no proxy settings; the kernel diverts them to the node proxy.
/// </summary>
public sealed class L7Node : IAsyncLifetime
{
    public static readonly IPEndPoint Catalog = new(IPAddress.Parse("127.0.0.10"), 8080);
    public static readonly IPEndPoint Shop = new(IPAddress.Parse("127.0.0.11"), 8080);

    private readonly List<WebApplication> _upstreams = [];
    private string? _configFile;

    public AgentSandbox Sandbox { get; } = AgentSandbox.Create("l7");

    /// <summary>Requests each upstream received, by "name path".</summary>
    public ConcurrentDictionary<string, int> Hits { get; } = new();

    /// <summary>The request headers the catalog upstream last saw, by path.</summary>
    public ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> SeenHeaders { get; } = new();

    /// <summary>A plain upstream no policy names: connections to it are spliced, never diverted.</summary>
    public IPEndPoint Plain { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var catalog = await StartUpstreamAsync("catalog");
        var shopV1 = await StartUpstreamAsync("shop-v1");
        var shopV2 = await StartUpstreamAsync("shop-v2");
        _configFile = Path.Combine(Path.GetTempPath(), $"{Sandbox.Name}.yaml");
        await File.WriteAllTextAsync(_configFile, $$"""
            services:
              - name: catalog
                address: {{Catalog.Address}}
                port: {{Catalog.Port}}
                endpoints: [{{catalog}}]
                rules:
                  - name: admin
                    matches: [{ path: { type: PathPrefix, value: /admin } }]
                    action: deny
                    denyReason: admin is internal
                  - name: flaky
                    matches: [{ path: { type: PathPrefix, value: /flaky } }]
                    retry: {}
                  - name: slow
                    matches: [{ path: { type: PathPrefix, value: /slow } }]
                    timeouts: { request: 500ms }
                  - name: breaker
                    matches: [{ path: { type: PathPrefix, value: /fail } }]
                    circuitBreaker: { consecutiveFailures: 3, breakDuration: 30s }
                  - name: limited
                    matches: [{ path: { type: PathPrefix, value: /limited } }]
                    rateLimit: { requestsPerSecond: 5, burst: 5 }
                  - name: rest
                    filters:
                      - type: RequestHeaderModifier
                        requestHeaderModifier: { set: [{ name: x-mesh-route, value: catalog-rest }] }
              - name: shop
                address: {{Shop.Address}}
                port: {{Shop.Port}}
                rules:
                  - name: split
                    backendRefs: [{ name: shop-v1, weight: 80 }, { name: shop-v2, weight: 20 }]
              - name: shop-v1
                address: 127.0.0.21
                port: 8080
                endpoints: [{{shopV1}}]
              - name: shop-v2
                address: 127.0.0.22
                port: 8080
                endpoints: [{{shopV2}}]
            """);
        await Sandbox.StartAgentAsync("--config", _configFile, "--proxy-port", LoopbackPair.FreePort().ToString());
        Sandbox.EnterCgroup();
        // Started inside the cgroup, so that the server side of a direct call is registered for the splice too.
        Plain = await StartUpstreamAsync("plain");
    }

    /// <summary>An HTTP client with no proxy settings, inside the cgroup: it dials services directly.</summary>
    public static HttpClient Client() => new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };

    public async Task DisposeAsync()
    {
        Sandbox.Dispose();
        foreach (var upstream in _upstreams)
        {
            await upstream.DisposeAsync();
        }
        if (_configFile is not null)
        {
            File.Delete(_configFile);
        }
    }

    private async Task<IPEndPoint> StartUpstreamAsync(string name)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            var path = context.Request.Path.Value ?? "/";
            var hits = Hits.AddOrUpdate($"{name} {path}", 1, (_, count) => count + 1);
            // A copy: Kestrel reuses the header collection once the request completes.
            SeenHeaders[path] = context.Request.Headers.ToDictionary(header => header.Key, header => header.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            context.Response.StatusCode = path switch
            {
                _ when path.StartsWith("/flaky", StringComparison.Ordinal) && hits <= 2 => 502,
                _ when path.StartsWith("/fail", StringComparison.Ordinal) => 500,
                _ => 200,
            };
            if (path.StartsWith("/slow", StringComparison.Ordinal))
            {
                await Task.Delay(TimeSpan.FromSeconds(3), context.RequestAborted).ContinueWith(_ => { });
            }
            await context.Response.WriteAsync(name);
        });
        await app.StartAsync();
        _upstreams.Add(app);
        return new IPEndPoint(IPAddress.Loopback, new Uri(app.Urls.First()).Port);
    }

}
