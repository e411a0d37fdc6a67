using Mesh.Config;
using Microsoft.AspNetCore.Http;

namespace Mesh.Proxy.Routing;

/// <summary>A service's routes in precedence order, plus its default.</summary>
internal sealed class CompiledService
{
    public required ServiceConfig Model { get; init; }

    public string Name => Model.Name;

    public required CompiledRoute[] Routes { get; init; }

    /// <summary>The catch-all for a default of allow, or null for a default of deny.</summary>
    public CompiledRoute? DefaultRoute { get; init; }

    /// <summary>The first route (in the order written) that matches, else the default route if allowed.</summary>
    public bool TryMatch(HttpRequest request, out CompiledRoute route, out CompiledMatch? matchedBy)
    {
        foreach (var candidate in Routes)
        {
            if (candidate.TryMatch(request, out matchedBy))
            {
                route = candidate;
                return true;
            }
        }

        matchedBy = null;
        route = DefaultRoute!;
        return DefaultRoute is not null;
    }
}
