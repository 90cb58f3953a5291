using Orleans.Leases.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>Lease silos on fake time with the default held-back heartbeats.</summary>
public sealed class HeldHeartbeatFixture : LeaseClusterFixture
{
    protected override ShardServiceOptions CreateOptions()
    {
        var options = base.CreateOptions();
        options.HeartbeatWriteDelay = new ShardServiceOptions().HeartbeatWriteDelay;
        return options;
    }
}

[CollectionDefinition(Name)]
public sealed class HeldHeartbeatCluster : ICollectionFixture<HeldHeartbeatFixture>
{
    public const string Name = "held heartbeat cluster";
}

[Collection(HeldHeartbeatCluster.Name)]
public sealed class HeldHeartbeatTests(HeldHeartbeatFixture fixture)
{
    private const int Readers = 10;

    [Fact]
    public async Task A_shards_readers_heartbeats_share_one_write_per_interval_and_stay_durable()
    {
        var shard = ClusterFixture.NewShard("held");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var readers = await Task.WhenAll(Enumerable.Range(0, Readers).Select(_ => fixture.Shards.OpenReaderAsync(shard, fixture.Settings)));
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var before = await fixture.Shards.InspectAsync(shard);

        const int intervals = 4;
        for (var i = 0; i < intervals; i++) await TickAndWaitForSyncs(shard);
        await Eventually.Async(() => Task.WhenAll(readers.Select(r => r.InspectAsync())),
            infos => infos.All(info => info.Heartbeats >= intervals - 1), "held heartbeats were never written");

        var after = await fixture.Shards.InspectAsync(shard);
        var writes = after.Counters.StateWrites - before.Counters.StateWrites;
        Assert.True(writes <= intervals, $"{writes} writes for {Readers} readers over {intervals} heartbeat intervals");
        var now = fixture.Time.GetUtcNow();
        foreach (var reader in readers)
        {
            var status = (await shardGrain.ReaderStatus(reader.Reader))!;
            Assert.True(now - status.LastHeartbeat <= 2 * LeaseClusterFixture.Heartbeat,
                $"reader {reader.Reader}: durable heartbeat {status.LastHeartbeat:O} is older than interval + allowance at {now:O}");
        }
        foreach (var reader in readers) await reader.DisposeAsync();
        Assert.Equal(0, (await fixture.Shards.InspectAsync(shard)).Readers);
    }

    [Fact]
    public async Task A_downgrade_that_advances_the_shards_since_is_written_without_waiting()
    {
        var shard = ClusterFixture.NewShard("held-urgent");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(10));
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        await TickAndWaitForSyncs(shard, count: 1); // a heartbeat is now held back in the shard

        await reader.DowngradeSinceAsync(F(6));

        // No time passes: the woken sync is written at once, and the held heartbeat rides the same write.
        await Eventually.Async(() => fixture.Shards.InspectAsync(shard), i => i.Since == F(6), "the downgrade waited for the heartbeat window");
        await Eventually.Async(reader.InspectAsync, i => i.Heartbeats == 1, "the held heartbeat did not ride the urgent write");
    }

    /// <summary>Advances one heartbeat interval and waits until the shard has taken every reader's sync.</summary>
    private async Task TickAndWaitForSyncs(ShardId shard, int count = Readers)
    {
        var commands = (await fixture.Shards.InspectAsync(shard)).Counters.Commands;
        fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
        await Eventually.Async(() => fixture.Shards.InspectAsync(shard), i => i.Counters.Commands >= commands + count,
            "the readers did not sync after a heartbeat interval");
    }
}
