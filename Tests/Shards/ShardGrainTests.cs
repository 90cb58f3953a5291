using System.Text;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using Orleans.TestingHost;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

[Collection(ShardCluster.Name)]
public sealed class ShardGrainTests(ShardClusterFixture fixture)
{
    private readonly ShardClient _shards = fixture.Shards;

    [Fact]
    public async Task Appended_batches_read_back_exactly_as_of_every_time()
    {
        var shard = ClusterFixture.NewShard("roundtrip");
        var writer = _shards.Writer(shard);
        Update[] first = [At(0, "apple", "red"), At(1, "pear", "green"), At(2, "apple", "red", -1)];
        Update[] second = [At(3, "plum", "blue"), At(3, "plum", "blue"), At(4, "pear", "green", -1)];

        Assert.Equal(AppendOutcome.Applied, (await writer.CompareAndAppendAsync(first, F(0), F(3))).Outcome);
        Assert.Equal(AppendOutcome.Applied, (await writer.CompareAndAppendAsync(second, F(3), F(5))).Outcome);

        var info = await _shards.InspectAsync(shard);
        Assert.Equal((2UL, F(5), F(0), 2, 2), (info.SeqNo, info.Upper, info.Since, info.Batches, info.Parts));
        var all = first.Concat(second).ToList();
        for (var asOf = 0UL; asOf < 5; asOf++)
        {
            Assert.Equal(Consolidation.AsOf(all, asOf).ToArray(), (await _shards.ReadAsync(shard, asOf)).ToArray());
        }
    }

    [Fact]
    public async Task Upper_mismatch_answers_the_current_upper_and_changes_nothing()
    {
        var shard = ClusterFixture.NewShard("mismatch");
        var writer = _shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(4));

        var result = await writer.CompareAndAppendAsync([At(6, "b")], F(6), F(8));   // ahead: waits, then gives up
        var stale = await writer.CompareAndAppendAsync([At(1, "c")], F(1), F(2));    // behind

        Assert.Equal(new AppendResult(AppendOutcome.UpperMismatch, F(4), 1), stale);
        Assert.Equal(new AppendResult(AppendOutcome.UpperMismatch, F(4), 1), result);
        Assert.Equal(1UL, (await _shards.InspectAsync(shard)).SeqNo);
        Assert.Single(await fixture.PartBlobsAsync(shard)); // the refused parts were deleted
    }

    /// <summary>The silo's host registered a BlobServiceClient of its own (pointing nowhere): it keeps it, and the
    /// service, whose client is keyed, still stores and reads.</summary>
    [Fact]
    public async Task The_hosts_own_blob_client_is_left_alone()
    {
        var services = fixture.Cluster.GetSiloServiceProvider();
        Assert.Equal(ShardClusterFixture.HostBlobs, services.GetRequiredService<BlobServiceClient>().Uri);
        Assert.NotEqual(ShardClusterFixture.HostBlobs, services.GetRequiredKeyedService<BlobServiceClient>(ShardStorage.Name).Uri);

        var shard = ClusterFixture.NewShard("host-client");
        await _shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        Assert.Equal([("a", "v", 1)], (await _shards.ReadAsync(shard, 0)).ToArray());
        Assert.Single(await fixture.PartBlobsAsync(shard));
    }

    /// <summary>Parts are stored in Orleans' binary format; a part stored as a JSON array (as before) still reads.</summary>
    [Fact]
    public async Task A_part_stored_as_json_before_reads_the_same_as_a_binary_one()
    {
        var shard = ClusterFixture.NewShard("json-part");
        Update[] updates = [At(0, "apple", "red"), At(1, "pear", "green", -3)];
        await _shards.Writer(shard).CompareAndAppendAsync(updates, F(0), F(2));
        var name = Assert.Single(await fixture.PartBlobsAsync(shard));
        var blob = fixture.Blobs.GetBlobContainerClient(fixture.Options.PartsContainer).GetBlobClient(name);
        var binary = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        Assert.NotEqual((byte)'[', binary[0]);

        await blob.UploadAsync(BinaryData.FromObjectAsJson(updates), overwrite: true);

        for (var asOf = 0UL; asOf < 2; asOf++)
            Assert.Equal(Consolidation.AsOf(updates, asOf).ToArray(), (await _shards.ReadAsync(shard, asOf)).ToArray());
        Assert.True(binary.Length < BinaryData.FromObjectAsJson(updates).ToArray().Length, $"binary {binary.Length} B");
    }

    [Fact]
    public async Task Retried_append_with_the_same_key_is_applied_once()
    {
        var shard = ClusterFixture.NewShard("retry");
        var writer = _shards.Writer(shard);

        var first = await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1), "key-1");
        var retry = await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1), "key-1");

        Assert.Equal(AppendOutcome.Applied, first.Outcome);
        Assert.Equal(new AppendResult(AppendOutcome.AlreadyApplied, F(1), 1), retry);
        var info = await _shards.InspectAsync(shard);
        Assert.Equal((1UL, 1), (info.SeqNo, info.Batches));
        Assert.Single(await fixture.PartBlobsAsync(shard));
    }

    [Fact]
    public async Task Concurrent_appends_share_state_writes_and_all_apply()
    {
        var shard = ClusterFixture.NewShard("group-commit");
        var writer = _shards.Writer(shard);
        const int appends = 64;

        // A pipelined writer: batch i is [i, i+1), all in flight at once.
        var results = await Task.WhenAll(Enumerable.Range(0, appends).Select(i =>
            writer.CompareAndAppendAsync([At((ulong)i, $"k{i}")], F((ulong)i), F((ulong)i + 1))));

        Assert.All(results, r => Assert.Equal(AppendOutcome.Applied, r.Outcome));
        var info = await _shards.InspectAsync(shard);
        Assert.Equal((ulong)appends, info.SeqNo);
        Assert.Equal(F(appends), info.Upper);
        Assert.True(info.Counters.StateWrites < appends,
            $"{info.Counters.StateWrites} state writes for {appends} appends: no group commit");
        Assert.Equal(appends, (await _shards.ReadAsync(shard, appends - 1)).Length);
    }

    [Fact]
    public async Task State_written_behind_the_grains_back_is_not_overwritten()
    {
        var shard = ClusterFixture.NewShard("etag");
        var writer = _shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "mine")], F(0), F(1));

        // A second writer (as a stale second activation would) appends [1, 5) straight to storage.
        var grainId = fixture.Client.GetGrain<IShardGrain>(shard.Value).GetGrainId();
        var behind = new GrainState<ShardState>();
        await fixture.ShardStateStorage.ReadStateAsync("shard", grainId, behind);
        behind.State = Assert.IsType<Outcome<AppendResult>.Applied>(behind.State!.Apply(
            new AppendBatch(new Batch(F(1), F(5), [], "behind"), F(1)), DateTimeOffset.UtcNow)).Next;
        await fixture.ShardStateStorage.WriteStateAsync("shard", grainId, behind);

        // The grain still believes upper is 1; its write must lose, reload, and find the mismatch.
        var result = await writer.CompareAndAppendAsync([At(1, "stale")], F(1), F(2));

        Assert.Equal(new AppendResult(AppendOutcome.UpperMismatch, F(5), 2), result);
        var info = await _shards.InspectAsync(shard);
        Assert.Equal((2UL, F(5)), (info.SeqNo, info.Upper));
        Assert.Equal(1, info.Counters.CasConflicts);
        var after = new GrainState<ShardState>();
        await fixture.ShardStateStorage.ReadStateAsync("shard", grainId, after);
        Assert.Equal(behind.ETag, after.ETag);
    }

    [Fact]
    public async Task Snapshot_waits_until_upper_passes_its_time()
    {
        var shard = ClusterFixture.NewShard("wait");
        var writer = _shards.Writer(shard);

        var snapshot = _shards.ReadAsync(shard, 3);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(3));
        Assert.False(snapshot.IsCompleted);
        await writer.CompareAndAppendAsync([At(3, "b")], F(3), F(4));

        var read = await snapshot.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, read.Length);
    }

    [Fact]
    public async Task Snapshot_wait_ends_when_the_caller_cancels()
    {
        var shard = ClusterFixture.NewShard("cancel");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _shards.ReadAsync(shard, 10, cancel.Token));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/inside")]
    public void Malformed_shard_id_is_refused(string id) =>
        Assert.Throws<InvalidShardIdException>(() => new ShardId(id));

    [Fact]
    public async Task Malformed_shard_key_called_directly_is_refused()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => fixture.Client.GetGrain<IShardGrain>("no good").Inspect());
        Assert.IsType<InvalidShardIdException>(error.GetBaseException());
    }

    public static TheoryData<string, Update[], ulong, ulong> BadAppends => new()
    {
        { "time below expectedUpper", [At(1, "a")], 2, 4 },
        { "time at newUpper", [At(4, "a")], 2, 4 },
        { "newUpper equal to expectedUpper", [], 2, 2 },
        { "newUpper below expectedUpper", [], 2, 1 },
    };

    [Theory]
    [MemberData(nameof(BadAppends))]
    public async Task Bad_append_is_refused_and_changes_nothing(string why, Update[] updates, ulong expected, ulong upper)
    {
        var shard = ClusterFixture.NewShard("bad");
        var writer = _shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a"), At(1, "b")], F(0), F(2));

        await Assert.ThrowsAsync<InvalidAppendException>(() => writer.CompareAndAppendAsync(updates, F(expected), F(upper)));

        var info = await _shards.InspectAsync(shard);
        Assert.True((1UL, F(2)) == (info.SeqNo, info.Upper), why);
        Assert.Single(await fixture.PartBlobsAsync(shard));
    }

    [Fact]
    public async Task Oversized_batch_is_refused_and_changes_nothing()
    {
        var shard = ClusterFixture.NewShard("big");
        var writer = _shards.Writer(shard);
        // Five distinct megabyte values (one value five times would be stored once: the format keeps references).
        var updates = Enumerable.Range(0, 5).Select(i => At(0, $"k{i}", new string((char)('a' + i), 1024 * 1024)));

        var error = await Assert.ThrowsAsync<PayloadTooLargeException>(() => writer.CompareAndAppendAsync(updates, F(0), F(1)));

        Assert.Equal(fixture.Options.MaxBatchBytes, error.Limit);
        Assert.Equal(0UL, (await _shards.InspectAsync(shard)).SeqNo);
        Assert.Empty(await fixture.PartBlobsAsync(shard));
    }

    [Fact]
    public async Task Snapshot_below_the_shards_since_is_refused()
    {
        var shard = ClusterFixture.NewShard("below-since");
        await _shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(10));
        await using var reader = await _shards.OpenReaderAsync(shard);
        await reader.DowngradeSinceAsync(F(5)); // the only reader: the shard's since follows at once
        await Eventually.Async(() => _shards.InspectAsync(shard), i => i.Since == F(5), "since did not move");

        var error = await Assert.ThrowsAsync<AsOfBeforeSinceException>(() => _shards.ReadAsync(shard, 4));

        Assert.Equal(F(5), error.Since);
        Assert.Single(await _shards.ReadAsync(shard, 5));
    }
}
