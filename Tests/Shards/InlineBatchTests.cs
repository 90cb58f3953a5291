using Orleans.Leases.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>One silo on the real clock whose small batches are kept inline, with a small inline share: past
/// <see cref="Share"/> bytes, compaction moves them out to a part (and only then: no other compaction runs).</summary>
public sealed class InlineClusterFixture : ClusterFixture
{
    public const long Share = 512;

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.InlineWritesTotalMaxBytes = 2 * Share;
        options.InlineWriteMaxBytes = Share;
        options.CompactionMinBatches = 1_000; // the inline share alone starts compaction here
        return options;
    }
}

[CollectionDefinition(Name)]
public sealed class InlineCluster : ICollectionFixture<InlineClusterFixture>
{
    public const string Name = "inline cluster";
}

[Collection(InlineCluster.Name)]
public sealed class InlineBatchTests(InlineClusterFixture fixture)
{
    private ShardClient Shards => fixture.Shards;

    [Fact]
    public async Task A_small_append_is_kept_in_the_state_with_no_part_blob_and_reads_back_exactly()
    {
        var shard = ClusterFixture.NewShard("inline");
        var writer = Shards.Writer(shard);
        Update[] first = [At(0, "apple"), At(1, "pear")], second = [At(2, "apple", diff: -1)];

        await writer.CompareAndAppendAsync(first, F(0), F(2));
        await writer.CompareAndAppendAsync(second, F(2), F(3));

        var info = await Shards.InspectAsync(shard);
        Assert.Equal((2, 2), (info.Batches, info.Parts));
        Assert.True(info.InlineBytes > 0 && info.InlineBytes == info.PartBytes, $"inline {info.InlineBytes} of {info.PartBytes} bytes");
        Assert.Empty(await fixture.PartBlobsAsync(shard));
        for (var asOf = 0UL; asOf < 3; asOf++)
            Assert.Equal(Consolidation.AsOf([.. first, .. second], asOf).ToArray(), (await Shards.ReadAsync(shard, asOf)).ToArray());
    }

    [Fact]
    public async Task A_retried_inline_append_is_applied_once()
    {
        var shard = ClusterFixture.NewShard("inline-retry");
        var writer = Shards.Writer(shard);

        var first = await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1), "key-1");
        var retry = await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1), "key-1");

        Assert.Equal(AppendOutcome.Applied, first.Outcome);
        Assert.Equal(new AppendResult(AppendOutcome.AlreadyApplied, F(1), 1), retry);
        Assert.Equal([("a", "v", 1)], (await Shards.ReadAsync(shard, 0)).ToArray());
    }

    /// <summary>S3 and S4 for inline batches: a snapshot leased while its batches were inline reads the same after
    /// compaction moved them out to a part, and the shard's inline bytes stay within their cap throughout.</summary>
    [Fact]
    public async Task Inline_batches_past_their_share_go_out_to_a_part_and_a_snapshot_leased_before_still_reads()
    {
        var shard = ClusterFixture.NewShard("inline-out");
        var writer = Shards.Writer(shard);
        await using var reader = await Shards.OpenReaderAsync(shard);
        var all = new List<Update>();
        async Task Append(ulong t)
        {
            Update[] updates = [At(t, $"key-{t}")];
            await writer.CompareAndAppendAsync(updates, F(t), F(t + 1));
            all.AddRange(updates);
        }

        await Append(0);
        var leased = await reader.SnapshotAsync(0);
        Assert.All(leased.Parts, p => Assert.True(p.IsInline));
        var before = await reader.ReadAsync(leased);

        var t = 1UL;
        for (var info = await Shards.InspectAsync(shard); info.PartBytes == info.InlineBytes; info = await Shards.InspectAsync(shard))
        {
            Assert.InRange(info.InlineBytes, 0, 2 * InlineClusterFixture.Share);
            Assert.True(t < 1_000, "no compaction moved the inline batches out");
            await Append(t++);
        }
        var moved = await Eventually.Async(() => Shards.InspectAsync(shard), i => i.InlineBytes <= InlineClusterFixture.Share,
            "the inline batches were not moved out");

        Assert.Equal(0, moved.RetiredParts); // nothing to collect: the lease holds its updates itself
        Assert.NotEmpty(await fixture.PartBlobsAsync(shard));
        Assert.Equal(before.ToArray(), (await reader.ReadAsync(leased)).ToArray());
        for (var asOf = 0UL; asOf < t; asOf += 3)
            Assert.Equal(Consolidation.AsOf(all, asOf).ToArray(), (await Shards.ReadAsync(shard, asOf)).ToArray());
        await reader.ReturnLeaseAsync(leased);
    }
}

/// <summary>One silo whose shards hold at most <see cref="Cap"/> inline bytes, with compaction off, so nothing moves
/// inline batches out: appends past the cap must be stored as parts.</summary>
public sealed class InlineCapClusterFixture : ClusterFixture
{
    public const long Cap = 150;

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.InlineWritesTotalMaxBytes = Cap;
        options.InlineWriteMaxBytes = Cap;
        options.CompactionMinBatches = int.MaxValue; // off
        return options;
    }
}

[CollectionDefinition(Name)]
public sealed class InlineCapCluster : ICollectionFixture<InlineCapClusterFixture>
{
    public const string Name = "inline cap cluster";
}

[Collection(InlineCapCluster.Name)]
public sealed class InlineCapTests(InlineCapClusterFixture fixture)
{
    [Fact]
    public async Task Appends_past_the_inline_cap_are_stored_as_parts_and_read_back_exactly()
    {
        var shard = ClusterFixture.NewShard("inline-cap");
        var writer = fixture.Shards.Writer(shard);
        var all = new List<Update>();
        for (var t = 0UL; t < 8; t++)
        {
            Update[] updates = [At(t, $"key-{t}")];
            Assert.Equal(AppendOutcome.Applied, (await writer.CompareAndAppendAsync(updates, F(t), F(t + 1))).Outcome);
            all.AddRange(updates);
        }

        var info = await fixture.Shards.InspectAsync(shard);
        Assert.InRange(info.InlineBytes, 1, InlineCapClusterFixture.Cap);
        var (state, _) = await fixture.PersistedAsync(shard);
        var stored = state.Batches.SelectMany(b => b.Parts).Where(p => !p.IsInline).Select(p => p.Name).Order();
        Assert.Equal(stored, (await fixture.PartBlobsAsync(shard)).Order());
        Assert.NotEmpty(stored);
        Assert.Equal(Consolidation.AsOf(all, 7).ToArray(), (await fixture.Shards.ReadAsync(shard, 7)).ToArray());
    }
}
