namespace Mesh.Config.Tests;

/// <summary>
/// The watcher tests time how fast an edit is delivered (the 1 s promise of hot reload). Run in parallel with the
/// rest of the assembly, while other classes JIT-compile and load on both cores, one such test once took over 1 s in
/// CI; so they run on their own, like the fuzz tests, and measure the watcher rather than the machine's load.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReloadTimingCollection
{
    public const string Name = "Reload timing";
}
