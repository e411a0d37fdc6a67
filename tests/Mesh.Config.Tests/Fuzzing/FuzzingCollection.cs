namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// The fuzz tests keep both cores busy for tens of seconds, which would slow the tests that time
/// how fast a reload is delivered; so they run on their own, after the tests that run in parallel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzingCollection
{
    public const string Name = "Fuzzing";
}
