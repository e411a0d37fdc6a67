using Mesh.Datapath.Maps;

namespace Mesh.Datapath.Tests.Maps;

/// <summary>A service's slot table: each endpoint's share of the slots is its share of the weights, spread out.</summary>
public sealed class WeightedSlotsTests
{
    [Fact]
    public void Build_WeightsOneAndThree_GivesFourSlotsInterleaved()
    {
        var slots = WeightedSlots.Build([("a", 1), ("b", 3)]);

        Assert.Equal(["b", "a", "b", "b"], slots);
    }

    [Fact]
    public void Build_WeightsWithCommonDivisor_AreReduced()
    {
        var slots = WeightedSlots.Build([("a", 20), ("b", 30)]);

        Assert.Equal(5, slots.Count);
        Assert.Equal((2, 3), (slots.Count(slot => slot == "a"), slots.Count(slot => slot == "b")));
    }

    [Fact]
    public void Build_EqualWeights_AlternateEndpoints()
    {
        Assert.Equal(["a", "b", "c"], WeightedSlots.Build([("a", 1), ("b", 1), ("c", 1)]));
    }

    [Fact]
    public void Build_WeightsOverTheTable_AreScaledDownAndEveryEndpointKeepsASlot()
    {
        var items = Enumerable.Range(0, 10).Select(i => ($"e{i}", i == 0 ? 1 : 997)).ToList();

        var slots = WeightedSlots.Build(items);

        Assert.InRange(slots.Count, 1000, WeightedSlots.MaxSlots);
        Assert.Single(slots, slot => slot == "e0");
        Assert.All(items.Skip(1), item => Assert.InRange(slots.Count(slot => slot == item.Item1), 110, 114));
    }

    [Fact]
    public void Build_ZeroWeight_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => WeightedSlots.Build([("a", 0)]));
    }
}
