using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;

namespace Mesh.Proxy.Telemetry;

/// <summary>
/// Decides whether a request is traced, before any span of it exists, so that a request left out costs no
/// <see cref="Activity"/>, no tags and no span work (the SDK's samplers run inside <c>StartActivity</c>, which for a
/// dropped span still builds one to propagate the context). The rules are OpenTelemetry's: parent-based or not, and a
/// ratio of trace ids, compared as <c>TraceIdRatioBasedSampler</c> compares them, so that every service deciding on
/// the same trace id agrees.
/// </summary>
/// <param name="followsParent">A request whose traceparent says sampled (or not) is traced (or not) whatever the ratio.</param>
/// <param name="ratio">The share of trace ids traced, 0 to 1: of new traces only when <paramref name="followsParent"/>.</param>
internal sealed class ProxyTraceSampler(bool followsParent, double ratio)
{
    /// <summary>Mesh's default: parent-based, 1 % of new traces (Istio's default trace sampling).</summary>
    public const double DefaultRatio = 0.01;

    /// <summary>Traces what a listener's own sampler accepts: for an OpenTelemetry setup of the caller's.</summary>
    public static readonly ProxyTraceSampler Deferring = new(followsParent: false, ratio: 1);

    // TraceIdRatioBasedSampler's bound: a trace id is in when its first 8 bytes, big-endian, sign bit cleared, are below it.
    private readonly long _bound = ratio >= 1 ? long.MaxValue : ratio <= 0 ? long.MinValue : (long)(ratio * long.MaxValue);

    public bool FollowsParent { get; } = followsParent;

    public double Ratio { get; } = Math.Clamp(ratio, 0, 1);

    /// <summary>
    /// The sampler of the standard <c>OTEL_TRACES_SAMPLER</c> / <c>OTEL_TRACES_SAMPLER_ARG</c> values (always_on,
    /// always_off, traceidratio and their parentbased_ forms), or null for a name it does not know.
    /// </summary>
    public static ProxyTraceSampler? FromVariables(string sampler, string? argument)
    {
        // The specification's default argument for a ratio sampler is 1.0, also when it is not a number in [0, 1].
        var ratio = double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out var given) && given is >= 0 and <= 1 ? given : 1;
        return sampler.Trim().ToLowerInvariant() switch
        {
            "always_on" => new(followsParent: false, 1),
            "always_off" => new(followsParent: false, 0),
            "traceidratio" => new(followsParent: false, ratio),
            "parentbased_always_on" => new(followsParent: true, 1),
            "parentbased_always_off" => new(followsParent: true, 0),
            "parentbased_traceidratio" => new(followsParent: true, ratio),
            _ => null,
        };
    }

    /// <summary>
    /// Whether to trace a request. For a new trace that is not traced, <paramref name="unsampledTraceparent"/> is a
    /// traceparent (flags 00) to send upstream, so that the services behind follow the decision as they would follow a
    /// traced request's; otherwise it is null (the caller's own headers go on unchanged).
    /// </summary>
    public bool ShouldSample(in ActivityContext parent, out string? unsampledTraceparent)
    {
        unsampledTraceparent = null;
        // A ratio of 1 where the ratio decides: nothing to compute.
        if (_bound == long.MaxValue && (!FollowsParent || parent.TraceId == default))
        {
            return true;
        }

        if (parent.TraceId != default)
        {
            if (FollowsParent)
            {
                return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0;
            }

            Span<byte> traceId = stackalloc byte[16];
            parent.TraceId.CopyTo(traceId);
            return InRatio(traceId);
        }

        Span<byte> ids = stackalloc byte[24];
        Random.Shared.NextBytes(ids);
        if (InRatio(ids))
        {
            return true;
        }

        unsampledTraceparent = string.Create(55, (ReadOnlySpan<byte>)ids, static (text, ids) =>
        {
            "00-".CopyTo(text);
            Convert.TryToHexStringLower(ids[..16], text[3..], out _);
            text[35] = '-';
            Convert.TryToHexStringLower(ids[16..], text[36..], out _);
            "-00".CopyTo(text[52..]);
        });
        return false;
    }

    /// <summary>For the log: "parent-based, 1 % of new traces".</summary>
    public string Describe() => FollowsParent
        ? $"parent-based, {Ratio.ToString("P", CultureInfo.InvariantCulture)} of new traces"
        : $"{Ratio.ToString("P", CultureInfo.InvariantCulture)} of traces, whatever the caller decided";

    private bool InRatio(ReadOnlySpan<byte> traceId) =>
        (BinaryPrimitives.ReadInt64BigEndian(traceId) & long.MaxValue) < _bound;
}
