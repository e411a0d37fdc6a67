namespace Mesh.Proxy.Tests.Infrastructure;

/// <summary>Tests that measure elapsed time run alone, so parallel tests on 2 cores do not skew the figures.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "Timing";
}
