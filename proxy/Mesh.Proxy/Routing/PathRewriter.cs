using Mesh.Config;

namespace Mesh.Proxy.Routing;

/// <summary>Applies a <see cref="PathModifier"/> as the Gateway API defines it.</summary>
internal static class PathRewriter
{
    /// <param name="path">The request path.</param>
    /// <param name="modifier">The change.</param>
    /// <param name="matchedPrefix">The normalized prefix of the PathPrefix match that selected the route.</param>
    public static string Apply(string path, PathModifier modifier, string? matchedPrefix)
    {
        if (modifier.Type == PathModifierType.ReplaceFullPath || matchedPrefix is null)
        {
            return modifier.Value;
        }

        // ReplacePrefixMatch: "/api" → "/v2" turns "/api/x" into "/v2/x" and "/api" into "/v2";
        // "/api" → "/" turns "/api/x" into "/x". The prefix was matched element-wise, so the rest is "" or "/...".
        var rest = path.Length >= matchedPrefix.Length ? path[matchedPrefix.Length..] : "";
        var replacement = modifier.Value.TrimEnd('/');
        var result = replacement + rest;
        return result.Length == 0 ? "/" : result;
    }
}
