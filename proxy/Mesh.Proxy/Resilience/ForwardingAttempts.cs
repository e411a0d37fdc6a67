using System.Net;
using Mesh.Proxy.Routing;
using Polly;

namespace Mesh.Proxy.Resilience;

/// <summary>
/// The tries of one forwarded request. The first try sends the message YARP built; each retry sends a copy of it (a
/// message can be sent only once) with the buffered body, to the next endpoint of the same backend service.
/// </summary>
internal sealed class ForwardingAttempts
{
    public static readonly ResiliencePropertyKey<ForwardingAttempts> Key = new("Mesh.ForwardingAttempts");

    private readonly HttpRequestMessage _original;
    private readonly MeshRequestFeature _feature;
    private KeyValuePair<string, IEnumerable<string>>[] _contentHeaders = [];
    private HttpRequestMessage? _previousCopy;

    public ForwardingAttempts(HttpRequestMessage original, MeshRequestFeature feature)
    {
        _original = original;
        _feature = feature;
        CanRetry = feature.Route.RetriesMethod(original.Method.Method) && feature.Body.Replayable;
    }

    /// <summary>The method allows retries and the body (if any) is in memory.</summary>
    public bool CanRetry { get; }

    /// <summary>Tries made so far.</summary>
    public int Count { get; private set; }

    /// <summary>Retries the route's budget granted this request, given back when it ends.</summary>
    public int RetriesGranted { get; set; }

    public HttpRequestMessage Next()
    {
        var attempt = Count++;
        if (attempt == 0)
        {
            if (CanRetry && _original.Content is { } content)
            {
                // Swap YARP's streaming content for one over the buffered bytes so that every try sends the same
                // body. YARP's content is then never started, which its forwarder handles (it only awaits a started one).
                _contentHeaders = [.. content.Headers.Where(h => !h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))];
                _original.Content = CreateContent();
            }

            return _original;
        }

        _previousCopy?.Dispose();
        var copy = new HttpRequestMessage(_original.Method, NextUri(attempt))
        {
            Version = _original.Version,
            VersionPolicy = _original.VersionPolicy,
            Content = _original.Content is null ? null : CreateContent(),
        };
        foreach (var header in _original.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        _previousCopy = copy;
        return copy;
    }

    private ByteArrayContent CreateContent()
    {
        var content = new ByteArrayContent(_feature.Body.Bytes ?? []);
        foreach (var header in _contentHeaders)
        {
            content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return content;
    }

    // Retry on another endpoint of the same backend when it has several: the next ones after the first try's, in turn.
    private Uri NextUri(int attempt)
    {
        var uri = _original.RequestUri!;
        var endpoints = _feature.Backend?.Endpoints ?? [];
        if (endpoints.Length < 2 || !IPAddress.TryParse(uri.DnsSafeHost, out var address))
        {
            return uri;
        }

        var first = Array.FindIndex(endpoints, e => e.Port == uri.Port && e.Address.Equals(Addresses.Normalize(address)));
        if (first < 0)
        {
            return uri;
        }

        var next = endpoints[(first + attempt) % endpoints.Length];
        return new UriBuilder(uri) { Host = next.Address.ToString(), Port = next.Port }.Uri;
    }
}
