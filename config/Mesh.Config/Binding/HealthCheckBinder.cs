using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a service's <c>healthCheck</c>.</summary>
internal sealed class HealthCheckBinder
{
    private static readonly (string, HealthCheckKind)[] Kinds = [("tcp", HealthCheckKind.Tcp), ("http", HealthCheckKind.Http)];

    private readonly MappingBinder<HealthCheck> _check = new(
    [
        new("type", (check, value, path, errors) =>
            ScalarValues.ReadWord(value, path, Kinds, errors) is { } kind ? check with { Kind = kind } : check),
        new("path", (check, value, path, errors) =>
            ScalarValues.ReadText(value, path, "an absolute URL path", "/healthz", errors) is { } text ? check with { Path = text } : check),
        new("interval", (check, value, path, errors) =>
            ScalarValues.ReadDuration(value, path, "500ms", errors) is { } interval ? check with { Interval = interval } : check),
        new("timeout", (check, value, path, errors) =>
            ScalarValues.ReadDuration(value, path, "500ms", errors) is { } timeout ? check with { Timeout = timeout } : check),
        new("healthyThreshold", (check, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, 100, "2", errors) is { } count ? check with { HealthyThreshold = count } : check),
        new("unhealthyThreshold", (check, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, 100, "2", errors) is { } count ? check with { UnhealthyThreshold = count } : check),
    ], new Dictionary<string, string>
    {
        ["periodSeconds"] = "write 'interval: 5s'",
        ["timeoutSeconds"] = "write 'timeout: 1s'",
        ["successThreshold"] = "write 'healthyThreshold'",
        ["failureThreshold"] = "write 'unhealthyThreshold'",
    });

    public HealthCheck Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var check = _check.Bind(node, new HealthCheck(), path, errors);
        if (errors.Count > before || node is not MappingNode mapping)
        {
            return check;
        }
        if (check.Timeout > check.Interval)
        {
            errors.Add(mapping.Find("timeout")?.Value ?? node, $"'{path}.timeout' is {check.Timeout.TotalMilliseconds:0}ms, longer than the interval of {check.Interval.TotalMilliseconds:0}ms; "
                + "a probe must end before the next one starts, so shorten the timeout or lengthen the interval");
        }
        if (!check.Path.StartsWith('/'))
        {
            errors.Add(mapping.Find("path")?.Value ?? node, $"'{path}.path' is '{check.Path}', which is not an absolute path; write one starting with '/', such as /healthz");
        }
        if (check.Kind == HealthCheckKind.Tcp && mapping.Find("path")?.Key is { } pathKey)
        {
            errors.Add(pathKey, $"'{path}.path' is only used by HTTP checks; write 'type: http' or remove 'path'");
        }
        return check;
    }
}
