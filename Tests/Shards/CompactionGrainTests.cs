using Azure.Storage.Blobs;
using Orleans.Leases.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>One silo on the real clock that compacts as soon as a batch holds no more updates than all newer ones, and
/// scans for orphans on every run. Every batch is stored as a part, so that parts' collection is what is tested.</summary>
public sealed class CompactionClusterFixture : ClusterFixture
{
    public static readonly TimeSpan OrphanAge = TimeSpan.FromSeconds(2);

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.CompactionFanout = 2;
        options.CompactionMinBatches = 0;
        options.InlineWriteMaxBytes = 0;
        options.OrphanScanInterval = TimeSpan.Zero; // every run scans
        options.OrphanMinAge = OrphanAge;
        return options;
    }
}

[CollectionDefinition(Name)]
public sealed class CompactionCluster : ICollectionFixture<CompactionClusterFixture>
{
    public const string Name = "compaction cluster";
}

[Collection(CompactionCluster.Name)]
public sealed class CompactionGrainTests(CompactionClusterFixture fixture)
{
    private ShardClient Shards => fixture.Shards;

    [Fact]
    public async Task A_leased_part_retired_by_compaction_stays_readable_until_returned_then_is_deleted()
    {
        var shard = ClusterFixture.NewShard("held");
        var writer = Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "first")], F(0), F(1));
        await using var reader = await Shards.OpenReaderAsync(shard);
        var leased = await reader.SnapshotAsync(0);
        var held = Assert.Single(leased.Parts);

        await writer.CompareAndAppendAsync([At(1, "second")], F(1), F(2)); // no more updates than the batch before: merged with it
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Batches == 1 && i.RetiredParts == 2, "no compaction");

        Assert.Contains(held.Name, await fixture.PartBlobsAsync(shard));
        Assert.Equal([("first", "v", 1L)], (await reader.ReadAsync(leased)).ToArray());

        await reader.ReturnLeaseAsync(leased);
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.RetiredParts == 0 && i.Counters.PartsDeleted == 2,
            "retired parts were not collected");
        Assert.DoesNotContain(held.Name, await fixture.PartBlobsAsync(shard));
    }

    [Fact]
    public async Task Snapshots_read_the_same_before_and_after_compaction()
    {
        var shard = ClusterFixture.NewShard("exact");
        var writer = Shards.Writer(shard);
        var all = new List<Update>();
        for (var t = 0UL; t < 8; t++)
        {
            Update[] batch = [At(t, $"k{t % 3}", "v", t % 2 == 0 ? 1 : -1), At(t, "same", "v")];
            all.AddRange(batch);
            await writer.CompareAndAppendAsync(batch, F(t), F(t + 1));
        }
        await using var reader = await Shards.OpenReaderAsync(shard);
        await reader.DowngradeSinceAsync(F(3)); // compaction may now fold times below 3 into 3
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Since == F(3), "since did not advance");

        // More updates than all earlier batches together: merged with all of them, folding times below 3.
        Update[] big = [.. Enumerable.Range(0, 16).Select(i => At(8, $"big{i}"))];
        all.AddRange(big);
        await writer.CompareAndAppendAsync(big, F(8), F(9));
        var info = await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Batches == 1,
            "the shard did not compact down to one batch");

        Assert.Equal(1, info.Parts);
        for (var asOf = 3UL; asOf < 9; asOf++)
            Assert.Equal(Consolidation.AsOf(all, asOf).ToArray(), (await Shards.ReadAsync(shard, asOf)).ToArray());
    }

    [Fact]
    public async Task Diffs_summing_past_long_read_exactly_before_and_after_compaction()
    {
        var shard = ClusterFixture.NewShard("overflow");
        var writer = Shards.Writer(shard);
        var beyondLong = (Int128)long.MaxValue + 1;
        await writer.CompareAndAppendAsync([At(0, "k", diff: long.MaxValue), At(0, "k", diff: 1)], F(0), F(1));

        Assert.Equal([("k", "v", beyondLong)], (await Shards.ReadAsync(shard, 0)).ToArray());

        await writer.CompareAndAppendAsync([At(1, "j"), At(1, "j", "w")], F(1), F(2)); // no more updates than the batch before: merged with it
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Batches == 1,
            "the batches were not merged");

        Assert.Equal([("k", "v", beyondLong)], (await Shards.ReadAsync(shard, 0)).ToArray());
        Assert.Equal([("j", "v", 1), ("j", "w", 1), ("k", "v", beyondLong)], (await Shards.ReadAsync(shard, 1)).ToArray());
        await using var reader = await Shards.OpenReaderAsync(shard);
        var leased = await reader.SnapshotAsync(1);
        Assert.Equal([At(0, "k", diff: long.MaxValue), At(0, "k", diff: 1), At(1, "j"), At(1, "j", "w")],
            (await reader.FetchPartAsync(Assert.Single(leased.Parts))).ToArray());
        await reader.ReturnLeaseAsync(leased);
    }

    [Fact]
    public async Task A_dead_readers_holds_go_and_storage_shrinks()
    {
        var shard = ClusterFixture.NewShard("shrink");
        var writer = Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var reader = await Shards.OpenReaderAsync(shard, new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(2) });
        await reader.SnapshotAsync(0); // never returned
        for (var t = 1UL; t < 4; t++) await writer.CompareAndAppendAsync([At(t, "b")], F(t), F(t + 1));
        var pinned = await Eventually.Async(() => Shards.InspectAsync(shard), i => i.RetiredParts > 0, "nothing retired");
        Assert.True(pinned.RetainedSeqNos > 0);

        // The client forgets the handle without closing it: its pings go unanswered, the lease lapses.
        fixture.Client.DeleteObjectReference<IReaderClient>(ReaderClientOf(reader));

        var freed = await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Readers == 0 && i.RetiredParts == 0,
            "the dead reader's holds were not freed", TimeSpan.FromSeconds(30));
        Assert.Equal(0UL, freed.RetainedSeqNos);
        Assert.Equal(freed.Parts, (await fixture.PartBlobsAsync(shard)).Count);
    }

    [Fact]
    public async Task Orphaned_parts_are_deleted_once_old_enough()
    {
        var shard = ClusterFixture.NewShard("orphan");
        var writer = Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var orphan = fixture.Blobs.GetBlobContainerClient(fixture.Options.PartsContainer).GetBlobClient($"{shard}/{Guid.NewGuid():N}.json");
        await orphan.UploadAsync(BinaryData.FromString("[]"));
        await Task.Delay(CompactionClusterFixture.OrphanAge + TimeSpan.FromSeconds(1));

        await writer.CompareAndAppendAsync([At(1, "b")], F(1), F(2)); // a change starts a maintenance run

        await Eventually.Async(async () => (await orphan.ExistsAsync()).Value, exists => !exists, "the orphan was not deleted");
        var info = await Eventually.Async(() => Shards.InspectAsync(shard), i => i.RetiredParts == 0, "garbage was not collected");
        Assert.Equal(info.Parts, (await fixture.PartBlobsAsync(shard)).Count);
    }

    private static IReaderClient ReaderClientOf(ReadHandle handle) =>
        (IReaderClient)typeof(ReadHandle).GetField("_client", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(handle)!;
}
