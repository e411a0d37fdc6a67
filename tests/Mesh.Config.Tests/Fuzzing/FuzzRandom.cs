using CsCheck;

namespace Mesh.Config.Tests.Fuzzing;

/// <summary>
/// The random choices of one fuzzed document, drawn from CsCheck's PCG so that a seed and a
/// document's index give the same document on every machine and every run.
/// </summary>
internal sealed class FuzzRandom
{
    private readonly PCG _pcg;

    /// <param name="seed">The run's seed (<see cref="FuzzSeed"/>).</param>
    /// <param name="stream">Which document of the run: each index draws from a stream of its own.</param>
    public FuzzRandom(ulong seed, uint stream)
    {
        _pcg = new PCG(stream, seed);
    }

    /// <summary>A value of a CsCheck generator.</summary>
    public T Next<T>(Gen<T> gen) => gen.Generate(_pcg, null, out _);

    /// <summary>A number from 0 to <paramref name="count"/> - 1.</summary>
    public int Int(int count) => count <= 1 ? 0 : (int)_pcg.Next((uint)count);

    /// <summary>A number from <paramref name="min"/> to <paramref name="max"/>, both included.</summary>
    public int Int(int min, int max) => min + Int(max - min + 1);

    /// <summary>True with the given probability, from 0 to 1.</summary>
    public bool Chance(double probability) => _pcg.Next() < probability * uint.MaxValue;

    public T Pick<T>(IReadOnlyList<T> items) => items[Int(items.Count)];

    /// <summary><paramref name="count"/> different items of <paramref name="items"/>, in random order.</summary>
    public List<T> Distinct<T>(IReadOnlyList<T> items, int count)
    {
        var pool = items.ToList();
        var picked = new List<T>();
        while (picked.Count < count && pool.Count > 0)
        {
            var i = Int(pool.Count);
            picked.Add(pool[i]);
            pool.RemoveAt(i);
        }
        return picked;
    }
}
