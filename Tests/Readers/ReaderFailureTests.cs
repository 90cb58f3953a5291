using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

[Collection(LeaseCluster.Name)]
public sealed class ReaderFailureTests(LeaseClusterFixture fixture)
{
    [Fact]
    public async Task Dead_client_frees_its_holds_after_the_lease_duration()
    {
        var shard = ClusterFixture.NewShard("dead-client");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(5));
        var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        var key = ReaderLeaseKey.Format(shard, reader.Reader);
        await reader.SnapshotAsync(1); // a leased part, never returned

        await fixture.Cluster.KillClientAsync();
        await fixture.Cluster.InitializeClientAsync();
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(key);

        // The lease grain pings the client before each heartbeat; a client the cluster has dropped stops them at once, a
        // ping that only timed out (the drop not noticed yet, on a busy machine) is forgiven for half a lease. So the
        // lease ends within half a lease + the lease + one interval, wherever the drop falls.
        var bound = (LeaseClusterFixture.Lease / 2 + LeaseClusterFixture.Lease) / LeaseClusterFixture.Heartbeat + 1;
        for (var step = 0; (await lease.Inspect()).IsLive; step++)
        {
            Assert.True(step < bound, $"the dead client's lease was still live after {step} heartbeat intervals");
            var before = await lease.Inspect();
            fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
            await Eventually.Async(lease.Inspect, info => info.ClientUnanswered > before.ClientUnanswered || !info.IsLive, "no heartbeat tick");
        }

        // The shard's sweep ran at the same (fake) time the lease grain found its lease lapsed.
        var info = await Eventually.Async(() => fixture.Shards.InspectAsync(shard), s => s.Readers == 0,
            "the dead client's reader was not expired");
        Assert.Equal(info.SeqNo, info.SeqNoSince); // nothing held any more (L2)
        await Assert.ThrowsAsync<LeaseExpiredException>(() => lease.DowngradeSince(ReaderSecret.New(), F(2)));
    }

    [Fact]
    public async Task Syncs_that_lose_a_compare_and_set_are_reloaded_and_applied()
    {
        var shard = ClusterFixture.NewShard("sync-conflict");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(10));
        await using var a = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        await using var b = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        await fixture.HeartbeatAsync(a, b);
        await a.DowngradeSinceAsync(F(4));
        await b.DowngradeSinceAsync(F(6));

        // Another writer touches the state: the shard's next write (both syncs, one group) must lose and retry.
        var grainId = fixture.Client.GetGrain<IShardGrain>(shard.Value).GetGrainId();
        var behind = new GrainState<ShardState>();
        await fixture.ShardStateStorage.ReadStateAsync("shard", grainId, behind);
        await fixture.ShardStateStorage.WriteStateAsync("shard", grainId, behind);

        await fixture.HeartbeatAsync(a, b);

        var info = await fixture.Shards.InspectAsync(shard);
        Assert.Equal(1, info.Counters.CasConflicts);
        Assert.Equal(F(4), info.Since);
        Assert.Equal(F(6), (await b.InspectAsync()).Durable!.Since);
    }
}
