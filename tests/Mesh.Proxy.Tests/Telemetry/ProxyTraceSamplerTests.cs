using System.Diagnostics;
using Mesh.Proxy.Telemetry;
using OpenTelemetry.Trace;

namespace Mesh.Proxy.Tests.Telemetry;

public sealed class ProxyTraceSamplerTests
{
    [Theory]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void ShouldSample_TraceIdRatio_DecidesAsTheSdksSamplerOnTheSameTraceId(double ratio)
    {
        var sampler = new ProxyTraceSampler(followsParent: false, ratio);
        var sdk = new TraceIdRatioBasedSampler(ratio);

        for (var i = 0; i < 2000; i++)
        {
            var parent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, isRemote: true);
            var expected = sdk.ShouldSample(new SamplingParameters(parent, parent.TraceId, "GET", ActivityKind.Server)).Decision == SamplingDecision.RecordAndSample;

            Assert.Equal(expected, sampler.ShouldSample(parent, out var traceparent));
            Assert.Null(traceparent);
        }
    }

    [Fact]
    public void ShouldSample_NewTraceLeftOut_GivesAWellFormedNotSampledTraceparent()
    {
        var sampler = new ProxyTraceSampler(followsParent: true, ratio: 0);

        Assert.False(sampler.ShouldSample(default, out var traceparent));

        Assert.True(ActivityContext.TryParse(traceparent, null, out var context));
        Assert.Equal(ActivityTraceFlags.None, context.TraceFlags);
        Assert.NotEqual(default, context.TraceId);
    }

    [Theory]
    [InlineData(ActivityTraceFlags.Recorded, true)]
    [InlineData(ActivityTraceFlags.None, false)]
    public void ShouldSample_ParentBased_FollowsTheCallerWhateverTheRatio(ActivityTraceFlags flags, bool expected)
    {
        var parent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), flags, isRemote: true);

        Assert.Equal(expected, new ProxyTraceSampler(followsParent: true, ratio: expected ? 0 : 1).ShouldSample(parent, out var traceparent));
        Assert.Null(traceparent);
    }
}
