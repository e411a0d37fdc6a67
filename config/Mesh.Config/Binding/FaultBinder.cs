using Mesh.Config.Syntax;

namespace Mesh.Config.Binding;

/// <summary>Binds a rule's <c>fault</c>, spelled as Istio's HTTPFaultInjection with its percent.</summary>
internal sealed class FaultBinder
{
    private static readonly Dictionary<string, string> PercentHints = new()
    {
        ["percentage"] = "write 'percent' with a number from 0 to 100, such as 'percent: 10'",
    };

    private readonly MappingBinder<FaultPolicy> _fault;

    public FaultBinder()
    {
        var delay = new MappingBinder<FaultDelay>(
        [
            new("fixedDelay", (d, value, path, errors) =>
                ScalarValues.ReadPolicyDuration(value, path, "100ms", TimeSpan.Zero, "", errors) is { } t ? d with { FixedDelay = t } : d, Required: "fixedDelay: 100ms"),
            new("percent", (d, value, path, errors) => ScalarValues.ReadPercent(value, path, errors) is { } p ? d with { Percent = p } : d),
        ], new Dictionary<string, string>(PercentHints)
        {
            ["duration"] = "write 'fixedDelay', as in Istio",
        });
        var abort = new MappingBinder<FaultAbort>(
        [
            new("httpStatus", (a, value, path, errors) =>
                ScalarValues.ReadInteger(value, path, 400, 599, "503", errors, "an abort answers with an error status, 400..599") is { } s
                    ? a with { HttpStatus = s }
                    : a,
                Required: "httpStatus: 503"),
            new("percent", (a, value, path, errors) => ScalarValues.ReadPercent(value, path, errors) is { } p ? a with { Percent = p } : a),
        ], new Dictionary<string, string>(PercentHints)
        {
            ["status"] = "write 'httpStatus', as in Istio",
            ["grpcStatus"] = "Mesh aborts with HTTP statuses only; write 'httpStatus'",
        });
        _fault = new(
        [
            new("delay", (fault, value, path, errors) => fault with { Delay = delay.Bind(value, new FaultDelay(TimeSpan.Zero), path, errors) }),
            new("abort", (fault, value, path, errors) => fault with { Abort = abort.Bind(value, new FaultAbort(503), path, errors) }),
        ]);
    }

    public FaultPolicy Bind(ConfigNode node, string path, ConfigErrorList errors)
    {
        var before = errors.Count;
        var fault = _fault.Bind(node, new FaultPolicy(), path, errors);
        if (errors.Count == before && fault is { Delay: null, Abort: null })
        {
            errors.Add(node, $"'{path}' injects nothing; add 'delay: {{ fixedDelay: 100ms, percent: 10 }}' and/or 'abort: {{ httpStatus: 503, percent: 5 }}', or remove it");
        }
        return fault;
    }
}
