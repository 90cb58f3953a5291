using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>A heartbeat's sync that the shard answers "lease expired" fences its lease grain.</summary>
[Collection(LeaseCluster.Name)]
public sealed class SyncFenceTests(LeaseClusterFixture fixture)
{
    [Fact]
    public async Task A_heartbeat_answered_lease_expired_ends_the_lease_grain()
    {
        var shard = ClusterFixture.NewShard("sync-fence");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(5));
        var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader.Reader));
        await fixture.HeartbeatAsync(reader);

        // Another writer ends the reader behind the lease grain's back: the shard's next write loses its compare-and-set,
        // reloads, and answers the heartbeat's sync LeaseExpiredException.
        var grainId = fixture.Client.GetGrain<IShardGrain>(shard.Value).GetGrainId();
        var persisted = new GrainState<ShardState>();
        await fixture.ShardStateStorage.ReadStateAsync("shard", grainId, persisted);
        var expired = persisted.State!.Apply(new ExpireReader(reader.Reader), fixture.Time.GetUtcNow());
        persisted.State = Assert.IsType<Outcome<ReaderStatus?>.Applied>(expired).Next;
        await fixture.ShardStateStorage.WriteStateAsync("shard", grainId, persisted);

        await fixture.HeartbeatAsync(reader); // returns once the grain synced or ended
        var info = await Eventually.Async(lease.Inspect, i => !i.IsLive, "the lease grain was not fenced by its sync's LeaseExpiredException");
        Assert.False(info.IsLive);
        await Assert.ThrowsAsync<LeaseExpiredException>(() => reader.DowngradeSinceAsync(F(2)));

        // Fenced for good: later ticks change nothing.
        var before = await lease.Inspect();
        fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
        await Task.Delay(200);
        Assert.Equal(before.Heartbeats, (await lease.Inspect()).Heartbeats);
    }
}
