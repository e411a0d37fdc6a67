using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>timeouts</c> (Gateway API's HTTPRouteTimeouts).</summary>
internal sealed class TimeoutsBinder
{
    private readonly MappingBinder<RouteTimeouts> _timeouts = new(
    [
        new("request", (timeouts, value, path, errors) =>
            ScalarValues.ReadPolicyDuration(value, path, "5s", PolicyLimits.MinTimeout, "", errors) is { } d ? timeouts with { Request = d } : timeouts),
        new("backendRequest", (timeouts, value, path, errors) =>
            ScalarValues.ReadPolicyDuration(value, path, "1s", PolicyLimits.MinTimeout, "", errors) is { } d ? timeouts with { BackendRequest = d } : timeouts),
    ], new Dictionary<string, string>
    {
        ["perTryTimeout"] = "write 'backendRequest', the timeout of each try, as in Gateway API",
    });

    public RouteTimeouts Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var timeouts = _timeouts.Bind(node, new RouteTimeouts(), path, errors);
        if (errors.Count == before && timeouts is { Request: { } request, BackendRequest: { } backend } && backend > request
            && node is MappingNode mapping)
        {
            errors.Add(mapping.Find("backendRequest")!.Value,
                $"'{path}.backendRequest' is longer than 'request' ({request}), which ends the request first; make it at most as long, as Gateway API requires");
        }
        return timeouts;
    }
}
