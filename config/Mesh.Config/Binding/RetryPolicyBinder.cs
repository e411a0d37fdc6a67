using System.Globalization;
using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>retry</c>: Gateway API's HTTPRouteRetry (attempts, codes, backoff) and Mesh's additions.</summary>
internal sealed class RetryPolicyBinder
{
    private readonly MappingBinder<RetryPolicy> _retry = new(
    [
        new("attempts", (retry, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 1, int.MaxValue, "3", errors, "it counts the retries after the first try; to not retry, remove 'retry'") is { } n
                ? retry with { Attempts = n }
                : retry),
        new("codes", (retry, value, path, errors) =>
        {
            var codes = ListValues.Bind(value, path, "- 502", (item, itemPath) =>
                ScalarValues.ReadInteger(item, itemPath, 400, 599, "502", errors, "only error statuses 400..599 are retried, as in Gateway API"), errors);
            ListValues.ReportDuplicates(codes, c => c?.ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal,
                (code, first) => $"{code} is already in '{path}' at line {first.Node.Line}; list each status once", errors);
            return retry with { Codes = codes.StructValues() };
        }),
        new("backoff", (retry, value, path, errors) =>
            ScalarValues.ReadPolicyDuration(value, path, "100ms", TimeSpan.Zero, "", errors) is { } d ? retry with { Backoff = d } : retry),
        new("maxBackoff", (retry, value, path, errors) =>
            ScalarValues.ReadPolicyDuration(value, path, "2s", TimeSpan.Zero, "", errors) is { } d ? retry with { MaxBackoff = d } : retry),
        new("retryNonIdempotent", (retry, value, path, errors) =>
            ScalarValues.ReadSwitch(value, path, errors) is { } on ? retry with { RetryNonIdempotent = on } : retry),
        new("maxBodyBytes", (retry, value, path, errors) =>
            ScalarValues.ReadInteger(value, path, 0, PolicyLimits.MaxRetryBodyBytes, "65536", errors,
                "bodies kept for retrying are held in the proxy's memory; write at most 16777216 (16 MiB)") is { } n
                ? retry with { MaxBodyBytes = n }
                : retry),
        new("budgetPercent", (retry, value, path, errors) =>
            ScalarValues.ReadNumber(value, path, 0, minExcluded: true, 100, "20", errors,
                "it is the share of requests in flight that may be retries; to not retry, remove 'retry'") is { } p
                ? retry with { BudgetPercent = p }
                : retry),
    ], new Dictionary<string, string>
    {
        ["retryOn"] = "write 'codes' with the statuses to retry, as in Gateway API (connection failures are always retried)",
        ["perTryTimeout"] = "write 'timeouts: { backendRequest: 2s }' on the rule, as in Gateway API",
        ["numRetries"] = "write 'attempts', as in Gateway API and Istio",
    });

    public RetryPolicy Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var retry = _retry.Bind(node, new RetryPolicy(), path, errors);
        var mapping = node as MappingNode;
        if (mapping?.Find("maxBackoff") is { } maxEntry)
        {
            if (errors.Count == before && retry.MaxBackoff < retry.Backoff)
            {
                errors.Add(maxEntry.Value, $"'{path}.maxBackoff' is shorter than 'backoff' ({retry.Backoff}), the first wait; make it at least as long");
            }
        }
        else
        {
            retry = retry with { MaxBackoff = TimeSpan.FromTicks(Math.Min(retry.Backoff.Ticks * 10, PolicyLimits.MaxDuration.Ticks)) };
        }
        return retry;
    }
}
