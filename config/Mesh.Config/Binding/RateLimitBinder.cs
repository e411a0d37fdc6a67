using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>rateLimit</c>.</summary>
internal sealed class RateLimitBinder
{
    private readonly MappingBinder<RateLimitPolicy> _limit = new(
    [
        new("requestsPerSecond", (limit, value, path, errors) =>
            ScalarValues.ReadNumber(value, path, 0, minExcluded: true, PolicyLimits.MaxRequestsPerSecond, "100", errors,
                "write the sustained rate, such as 100, or 0.5 for one request every 2 seconds") is { } rate
                ? AtLeastOneADay(rate, value, path, errors) ? limit with { RequestsPerSecond = rate } : limit
                : limit,
            Required: "requestsPerSecond: 100"),
        new("burst", (limit, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, int.MaxValue, "20", errors) is { } n ? limit with { Burst = n } : limit),
        new("perSource", (limit, value, path, errors) =>
            ScalarValues.ReadSwitch(value, path, errors) is { } on ? limit with { PerSource = on } : limit),
    ], new Dictionary<string, string>
    {
        ["rps"] = "write 'requestsPerSecond'",
        ["maxTokens"] = "write 'burst', the most requests let through at once",
    });

    private static bool AtLeastOneADay(double rate, ConfigNode value, string path, ConfigErrorList errors)
    {
        if (rate >= PolicyLimits.MinRequestsPerSecond)
        {
            return true;
        }
        errors.Add(value, $"'{path}' refills the bucket less than once a day; write at least 0.0000116 (one a day), or deny the requests with 'action: deny'");
        return false;
    }

    public RateLimitPolicy Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var limit = _limit.Bind(node, new RateLimitPolicy { RequestsPerSecond = 1, Burst = 0 }, path, errors);
        // No burst given: one second's worth of requests, at least one.
        return limit.Burst == 0 ? limit with { Burst = (int)Math.Min(int.MaxValue, Math.Max(1, Math.Ceiling(limit.RequestsPerSecond))) } : limit;
    }
}
