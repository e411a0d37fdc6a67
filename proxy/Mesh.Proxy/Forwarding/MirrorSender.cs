using System.Collections.Frozen;
using System.Net;
using Mesh.Config;
using Mesh.Proxy.Resilience;
using Mesh.Proxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Mesh.Proxy.Forwarding;

/// <summary>
/// Sends the fire-and-forget copies of RequestMirror. The copy is built before the primary request is forwarded
/// (method, path and query, headers, the buffered body) and sent in the background; its answer is discarded, and a
/// failing or slow mirror never affects the primary request. A body over the replay limit is not mirrored. Copies in
/// flight are capped, time out, and are cancelled when the proxy stops.
/// </summary>
internal sealed partial class MirrorSender : IDisposable
{
    private static readonly FrozenSet<string> HopByHop = new[]
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Proxy-Connection", "Proxy-Authorization", "Host",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private readonly HttpMessageInvoker _client;
    private readonly CancellationTokenSource _stopping = new();
    private readonly MeshProxyOptions _options;
    private readonly ILogger<MirrorSender> _logger;
    private int _inFlight;

    public MirrorSender(IOptions<MeshProxyOptions> options, ILogger<MirrorSender> logger)
    {
        _options = options.Value;
        _logger = logger;
        _client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = _options.UpstreamConnectTimeout,
        });
    }

    /// <summary>Sends a copy of the request to one of <paramref name="target"/>'s endpoints, unless it cannot be copied or too many are in flight.</summary>
    public void Send(HttpContext context, MeshRequestFeature feature, RouteMirror target)
    {
        var route = feature.Route;
        var body = feature.Body;
        if (body.Kind is RequestBodyKind.TooLarge or RequestBodyKind.NotCaptured || target.NextEndpoint() is not { } endpoint)
        {
            Log.MirrorDropped(_logger, route.Id, target.Target.Name, "no endpoint, or the body was not buffered");
            return;
        }

        if (Interlocked.Increment(ref _inFlight) > _options.MaxConcurrentMirrors)
        {
            Interlocked.Decrement(ref _inFlight);
            Log.MirrorDropped(_logger, route.Id, target.Target.Name, "too many mirrored requests in flight");
            return;
        }

        var request = BuildCopy(context.Request, body, endpoint, target.Target.Service.Protocol);
        _ = SendAsync(request, route.Id);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _client.Dispose();
        _stopping.Dispose();
    }

    private async Task SendAsync(HttpRequestMessage request, string routeId)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_options.MirrorTimeout);
            using var response = await _client.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested)
        {
            Log.MirrorFailed(_logger, routeId, request.RequestUri, e.GetType().Name);
        }
        catch (Exception)
        {
            // Stopping: the copy is abandoned.
        }
        finally
        {
            request.Dispose();
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static HttpRequestMessage BuildCopy(HttpRequest source, RequestBody body, IPEndPoint endpoint, UpstreamProtocol protocol)
    {
        var uri = new Uri($"http://{endpoint}{source.Path.ToUriComponent()}{source.QueryString.ToUriComponent()}");
        var copy = new HttpRequestMessage(new HttpMethod(source.Method), uri)
        {
            Version = protocol == UpstreamProtocol.H2c ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = protocol == UpstreamProtocol.H2c ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
        };
        if (body.Bytes is { } bytes)
        {
            copy.Content = new ByteArrayContent(bytes);
        }

        foreach (var (name, values) in source.Headers)
        {
            if (HopByHop.Contains(name) || name.StartsWith(':'))
            {
                continue;
            }

            if (!copy.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values) && copy.Content is not null
                && !name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                copy.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        copy.Headers.Host = source.Host.Value;
        return copy;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.MirrorFailed, Level = LogLevel.Debug,
            Message = "Route {RouteId}: mirrored request to {Uri} failed: {Error}")]
        public static partial void MirrorFailed(ILogger logger, string routeId, Uri? uri, string error);

        [LoggerMessage(EventId = EventIds.MirrorDropped, Level = LogLevel.Debug,
            Message = "Route {RouteId}: copy for mirror {Mirror} dropped: {Reason}")]
        public static partial void MirrorDropped(ILogger logger, string routeId, string mirror, string reason);
    }
}
