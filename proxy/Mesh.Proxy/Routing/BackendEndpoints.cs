using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Model;

namespace Mesh.Proxy.Routing;

/// <summary>
/// YARP's endpoint for each backend service, by <see cref="BackendService.YarpId"/>, so that the filters stage hands a
/// request straight to the endpoint of the backend it chose. Endpoint routing skips its matcher for a request that
/// already has an endpoint, which spares every request the matcher's candidate set and
/// <see cref="BackendEndpointSelectorPolicy"/>. The map follows YARP's endpoints as they change.
/// </summary>
/// <remarks>
/// Right after a config update the mesh's snapshot may name a backend whose YARP endpoint does not exist yet (YARP
/// applies the same update a moment later); such a request gets no endpoint here and goes through the matcher and
/// the selector policy, as every request did before this shortcut.
/// </remarks>
internal sealed class BackendEndpoints : IDisposable
{
    private FrozenDictionary<string, Endpoint> _byYarpId = FrozenDictionary<string, Endpoint>.Empty;
    private IDisposable? _subscription;

    /// <summary>Follows the endpoints of <paramref name="source"/> (the proxy's endpoint data sources) from now on.</summary>
    public void Follow(EndpointDataSource source)
    {
        _subscription?.Dispose();
        _subscription = ChangeToken.OnChange(source.GetChangeToken, () => Rebuild(source));
        Rebuild(source);
    }

    /// <summary>Sets the request's endpoint to the backend's YARP endpoint, if YARP has one for it.</summary>
    public void Assign(HttpContext context, BackendService backend)
    {
        if (Volatile.Read(ref _byYarpId).TryGetValue(backend.YarpId, out var endpoint))
        {
            context.SetEndpoint(endpoint);
        }
    }

    public void Dispose() => _subscription?.Dispose();

    private void Rebuild(EndpointDataSource source)
    {
        var byYarpId = new Dictionary<string, Endpoint>(StringComparer.Ordinal);
        foreach (var endpoint in source.Endpoints)
        {
            if (endpoint.Metadata.GetMetadata<RouteModel>() is { } route)
            {
                byYarpId[route.Config.RouteId] = endpoint;
            }
        }

        Volatile.Write(ref _byYarpId, byYarpId.ToFrozenDictionary(StringComparer.Ordinal));
    }
}
