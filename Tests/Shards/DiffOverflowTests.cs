using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>Every diff is a long, but sums of them are not: reads and compaction must take any accepted history.</summary>
public sealed class DiffOverflowTests
{
    private static readonly Int128 Max = long.MaxValue;
    private static readonly Int128 Min = long.MinValue;

    [Fact]
    public void A_read_sums_past_long_max()
    {
        var contents = Consolidation.AsOf([At(0, "k", diff: long.MaxValue), At(1, "k", diff: 1)], 1);

        Assert.Equal([("k", "v", Max + 1)], contents.ToArray());
    }

    [Fact]
    public void A_read_sums_below_long_min()
    {
        var contents = Consolidation.AsOf([At(0, "k", diff: long.MinValue), At(0, "k", diff: -1)], 0);

        Assert.Equal([("k", "v", Min - 1)], contents.ToArray());
    }

    [Fact]
    public void A_read_whose_sum_leaves_long_and_comes_back_is_exact()
    {
        var contents = Consolidation.AsOf([At(0, "k", diff: long.MaxValue), At(0, "k", diff: long.MaxValue),
            At(0, "k", diff: long.MinValue), At(0, "k", diff: long.MinValue), At(0, "j", diff: long.MaxValue), At(0, "j", diff: -long.MaxValue)], 0);

        Assert.Equal([("k", "v", (Int128)(-2))], contents.ToArray());
    }

    [Fact]
    public void A_read_of_many_max_values_is_exact()
    {
        var contents = Consolidation.AsOf(Enumerable.Repeat(At(0, "k", diff: long.MaxValue), 1000), 0);

        Assert.Equal([("k", "v", Max * 1000)], contents.ToArray());
    }

    [Fact]
    public void Merging_past_long_max_writes_pieces_that_fit_and_add_up()
    {
        var merged = Consolidation.Merge([At(0, "k", diff: long.MaxValue), At(1, "k", diff: 1)], F(1));

        Assert.Equal([At(1, "k", diff: long.MaxValue), At(1, "k", diff: 1)], merged.ToArray());
    }

    [Fact]
    public void Merging_below_long_min_writes_pieces_that_fit_and_add_up()
    {
        var merged = Consolidation.Merge([At(0, "k", diff: long.MinValue), At(0, "k", diff: -1)], F(0));

        Assert.Equal([At(0, "k", diff: -long.MaxValue), At(0, "k", diff: -2)], merged.ToArray());
    }

    [Fact]
    public void Merging_a_sum_that_comes_back_into_range_writes_one_update_or_none()
    {
        Update[] updates = [At(0, "k", diff: long.MaxValue), At(0, "k", diff: long.MaxValue), At(0, "k", diff: long.MinValue),
            At(0, "j", diff: long.MaxValue), At(0, "j", diff: 1), At(0, "j", diff: long.MinValue)];

        Assert.Equal([At(0, "k", diff: long.MaxValue - 1)], Consolidation.Merge(updates, F(0)).ToArray());
    }

    [Fact]
    public void Merging_many_max_values_keeps_every_piece_sorted_and_reads_the_same()
    {
        Update[] updates = [.. Enumerable.Repeat(At(2, "b", diff: long.MaxValue), 5), At(2, "b", diff: 3),
            .. Enumerable.Repeat(At(1, "c", diff: long.MinValue), 3), At(2, "a"), At(0, "a", diff: -1)];

        var merged = Consolidation.Merge(Enumerable.Reverse(updates), F(1));

        Assert.Equal([At(1, "a", diff: -1), At(1, "c", diff: -long.MaxValue), At(1, "c", diff: -long.MaxValue),
            At(1, "c", diff: -long.MaxValue), At(1, "c", diff: -3), At(2, "a"),
            .. Enumerable.Repeat(At(2, "b", diff: long.MaxValue), 5), At(2, "b", diff: 3)], merged.ToArray());
        Assert.Equal(merged.ToArray(), Consolidation.Merge(updates, F(1)).ToArray());
        Assert.Equal(merged.ToArray(), Consolidation.Merge(merged, F(1)).ToArray());
        for (var asOf = 1UL; asOf < 3; asOf++)
            Assert.Equal(Consolidation.AsOf(updates, asOf).ToArray(), Consolidation.AsOf(merged, asOf).ToArray());
    }
}
