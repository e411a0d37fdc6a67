namespace Mesh.Datapath.Maps;

/// <summary>
/// A service's slot table: each endpoint takes as many slots as its weight (reduced by the common divisor and
/// scaled to fit <see cref="MaxSlots"/>), interleaved as nginx's smooth weighted round robin orders them, so
/// that consecutive connections spread over the endpoints instead of going to one in bursts.
/// </summary>
public static class WeightedSlots
{
    /// <summary>LB_MAX_SLOTS of mesh_types.h.</summary>
    public const int MaxSlots = 1024;

    public static IReadOnlyList<T> Build<T>(IReadOnlyList<(T Item, int Weight)> items)
    {
        var weights = Reduced(items.Select(item => item.Weight).ToArray());
        var current = new long[weights.Length];
        var total = weights.Sum();
        var slots = new List<T>(total);
        for (var turn = 0; turn < total; turn++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }
            current[best] -= total;
            slots.Add(items[best].Item);
        }
        return slots;
    }

    private static int[] Reduced(int[] weights)
    {
        if (weights.Any(weight => weight < 1))
        {
            throw new ArgumentException("endpoint weights are at least 1");
        }
        if (weights.Length > MaxSlots)
        {
            throw new ArgumentException($"{weights.Length} endpoints; a service holds at most {MaxSlots}");
        }
        var divisor = weights.Aggregate(0, (gcd, weight) => (int)System.Numerics.BigInteger.GreatestCommonDivisor(gcd, weight));
        var reduced = weights.Select(weight => weight / Math.Max(divisor, 1)).ToArray();
        var sum = reduced.Sum(weight => (long)weight);
        if (sum <= MaxSlots)
        {
            return reduced;
        }
        // Scaled down, every endpoint keeps at least one slot; the shares shift by less than one slot each.
        var room = MaxSlots - reduced.Length;
        return reduced.Select(weight => 1 + (int)((weight - 1L) * room / (sum - reduced.Length))).ToArray();
    }
}
