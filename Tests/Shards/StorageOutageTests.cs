using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>A silo whose storage traffic goes through a TCP relay to the test Azurite, so a test can cut storage
/// off (every connection dropped, new ones refused) and bring it back with the data intact.</summary>
public sealed class OwnAzuriteFixture : ClusterFixture
{
    private readonly StorageRelay _storage = new(); // before the base constructor reads CreateOptions

    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.StorageConnectionString = _storage.ConnectionString;
        options.CompactionFanout = 2;
        options.CompactionMinBatches = 0;
        return options;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _storage.Dispose();
    }

    public void StartStorage() => _storage.Start();

    public void StopStorage() => _storage.Stop();
}

[CollectionDefinition(Name)]
public sealed class OwnAzuriteCluster : ICollectionFixture<OwnAzuriteFixture>
{
    public const string Name = "own azurite cluster";
}

[Collection(OwnAzuriteCluster.Name)]
public sealed class StorageOutageTests(OwnAzuriteFixture fixture)
{
    [Fact]
    public async Task Storage_stopped_during_compaction_and_gc_loses_nothing_and_work_resumes()
    {
        var shard = ClusterFixture.NewShard("outage");
        var writer = fixture.Shards.Writer(shard);
        var all = new List<Update>();
        async Task Append(ulong t)
        {
            Update[] batch = [At(t, $"k{t % 4}")];
            Assert.Equal(AppendOutcome.Applied, (await writer.CompareAndAppendAsync(batch, F(t), F(t + 1), $"key-{t}")).Outcome);
            all.AddRange(batch);
        }
        for (var t = 0UL; t < 6; t++) await Append(t);

        // The last append starts a maintenance run; storage goes away under it.
        await Append(6);
        fixture.StopStorage();
        var during = await Assert.ThrowsAsync<ShardStorageException>(() => writer.CompareAndAppendAsync([At(7, "lost")], F(7), F(8), "key-7"));
        Assert.Contains(shard.Value, during.Message);

        fixture.StartStorage();
        for (var t = 7UL; t < 10; t++) await Append(t); // key-7 again: applied once, whatever the outage did

        // The last appends leave a run to merge in any state: only a compactor at work leaves none.
        var policy = new CompactionPolicy(fixture.Options.CompactionFanout, fixture.Options.CompactionMinBatches);
        var (state, _) = await Eventually.Async(() => fixture.PersistedAsync(shard),
            p => p.State.CompactionCandidates(policy).IsEmpty && p.State.Retired.IsEmpty,
            "compaction and GC did not resume", TimeSpan.FromSeconds(90));
        Assert.Equal(F(10), state.Upper);
        var stored = await fixture.PartBlobsAsync(shard);
        var referenced = state.ReferencedParts();
        Assert.All(referenced, name => Assert.Contains(name, stored)); // nothing referenced was lost
        for (var asOf = 0UL; asOf < 10; asOf++)
            Assert.Equal(Consolidation.AsOf(all, asOf).ToArray(), (await fixture.Shards.ReadAsync(shard, asOf)).ToArray());
    }

    [Fact]
    public async Task A_lease_outlives_a_storage_outage_shorter_than_its_duration()
    {
        var shard = ClusterFixture.NewShard("outage-lease");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1), "a");
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(20), HeartbeatInterval = TimeSpan.FromSeconds(1) };
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, settings);
        var leased = await reader.SnapshotAsync(0);

        fixture.StopStorage();
        var cutAt = DateTimeOffset.UtcNow;
        // A change that needs storage waits in the storage client's retries, and fails with the typed error if
        // storage stays away longer; the lease's heartbeats wait the same way in the background.
        var during = reader.SnapshotAsync(0);
        await Task.Delay(TimeSpan.FromSeconds(8));
        fixture.StartStorage();
        try
        {
            await during;
        }
        catch (ShardStorageException)
        {
            // In doubt while storage was away: the caller may retry.
        }

        var info = await Eventually.Async(reader.InspectAsync, i => !i.IsLive || i.Durable!.LastHeartbeat > cutAt,
            "no heartbeat after storage came back", TimeSpan.FromSeconds(30));
        Assert.True(info.IsLive, $"the lease was lost to an 8 s outage: {info}");
        Assert.True(info.OutstandingLeases >= 1);
        Assert.True(info.Durable!.SeqNoHold <= leased.SeqNo, "the hold moved past the outstanding leased part");
        Assert.Single(await reader.ReadAsync(leased));
    }

    [Fact]
    public async Task A_sync_that_failed_for_storage_is_retried_within_seconds_not_a_heartbeat_later()
    {
        var shard = ClusterFixture.NewShard("outage-retry");
        var writer = fixture.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1), "a");
        // A heartbeat far away: only a retry of the failed sync can make the return durable soon.
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(240), HeartbeatInterval = TimeSpan.FromSeconds(120) };
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, settings);
        var leased = await reader.SnapshotAsync(0);
        await writer.CompareAndAppendAsync([At(1, "b")], F(1), F(2), "b");

        fixture.StopStorage();
        await reader.ReturnLeaseAsync(leased); // the only lease: its return wakes a sync, which storage fails
        await Eventually.Async(reader.InspectAsync, i => i.FailedSyncs > 0, "the sync did not fail", TimeSpan.FromSeconds(60));
        fixture.StartStorage();

        var info = await Eventually.Async(reader.InspectAsync, i => i.Durable!.SeqNoHold > leased.SeqNo,
            "the return waited for the next heartbeat", TimeSpan.FromSeconds(40));
        Assert.Empty(info.Durable!.Leases);
    }
}
