using System.Text.RegularExpressions;

namespace Mesh.Config;

/// <summary>
/// How the RegularExpression matches of a rule are compiled, so the loader validates a pattern
/// exactly as the proxy will run it. A pattern must match the whole value, as in Envoy and Istio.
/// The engine is .NET's non-backtracking one: matching takes linear time whatever the request,
/// and, like the RE2 engine of Envoy, it refuses backreferences and lookarounds, so a pattern
/// moves between Mesh and Envoy-based Gateway API implementations unchanged.
/// </summary>
public static class RouteRegex
{
    public const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    /// <summary>The pattern anchored at both ends; throws <see cref="ArgumentException"/> or <see cref="NotSupportedException"/> for a bad one.</summary>
    public static Regex Create(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        // Compiled alone first, so an error's offset is in the user's pattern; a pattern that
        // compiles alone has balanced parentheses, so wrapping it keeps it one alternative.
        _ = new Regex(pattern, Options);
        return new Regex($@"\A(?:{pattern})\z", Options);
    }
}
