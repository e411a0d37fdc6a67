using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>circuitBreaker</c>.</summary>
internal sealed class CircuitBreakerBinder
{
    private readonly MappingBinder<CircuitBreakerPolicy> _breaker = new(
    [
        new("consecutiveFailures", (breaker, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 0, int.MaxValue, "5", errors) is { } n ? breaker with { ConsecutiveFailures = n } : breaker),
        new("failureRatio", (breaker, value, path, errors) =>
            ScalarValues.ReadNumber(value, path, 0, minExcluded: true, 1, "0.5", errors, "write the share of failed requests as a fraction, such as 0.5 for half") is { } r
                ? breaker with { FailureRatio = r }
                : breaker),
        new("minimumThroughput", (breaker, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 2, int.MaxValue, "10", errors) is { } n ? breaker with { MinimumThroughput = n } : breaker),
        new("samplingDuration", (breaker, value, path, errors) =>
            ReadAtLeastMinimum(value, path, "10s", errors) is { } d ? breaker with { SamplingDuration = d } : breaker),
        new("breakDuration", (breaker, value, path, errors) =>
            ReadAtLeastMinimum(value, path, "30s", errors) is { } d ? breaker with { BreakDuration = d } : breaker),
    ], new Dictionary<string, string>
    {
        ["consecutive5xxErrors"] = "write 'consecutiveFailures' (it counts 5xx responses, timeouts and connection failures)",
        ["consecutiveGatewayErrors"] = "write 'consecutiveFailures' (it counts 5xx responses, timeouts and connection failures)",
        ["baseEjectionTime"] = "write 'breakDuration', how long requests are refused once the breaker opens",
        ["interval"] = "write 'samplingDuration', the window failureRatio is measured over",
        ["maxEjectionPercent"] = "Mesh's breaker covers the whole rule, not single endpoints; remove it",
    });

    public CircuitBreakerPolicy Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var breaker = _breaker.Bind(node, new CircuitBreakerPolicy(), path, errors);
        if (errors.Count != before || node is not MappingNode mapping)
        {
            return breaker;
        }
        if (breaker.FailureRatio is null)
        {
            if (breaker.ConsecutiveFailures == 0)
            {
                errors.Add(mapping.Find("consecutiveFailures")!.Value,
                    $"'{path}.consecutiveFailures' is 0 and there is no 'failureRatio', so the breaker would never open; write a count such as 5, or add 'failureRatio'");
            }
            foreach (var key in new[] { "minimumThroughput", "samplingDuration" })
            {
                if (mapping.Find(key) is { } entry)
                {
                    errors.Add(entry.Key, $"'{key}' only applies to 'failureRatio', which '{path}' does not set; add 'failureRatio' (such as 0.5) or remove '{key}'");
                }
            }
        }
        return breaker;
    }

    private static TimeSpan? ReadAtLeastMinimum(ConfigNode value, string path, string example, ConfigErrorList errors) =>
        ScalarValues.ReadPolicyDuration(value, path, example, PolicyLimits.MinBreakerDuration, ", or the breaker could not measure anything", errors);
}
