using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>Two lease silos on fake time.</summary>
public sealed class TwoSiloLeaseFixture : LeaseClusterFixture
{
    protected override short SiloCount => 2;
}

[CollectionDefinition(Name)]
public sealed class TwoSiloLeaseCluster : ICollectionFixture<TwoSiloLeaseFixture>
{
    public const string Name = "two silo lease cluster";
}

[Collection(TwoSiloLeaseCluster.Name)]
public sealed class SiloFailureTests(TwoSiloLeaseFixture fixture)
{
    [Fact]
    public async Task A_killed_lease_silo_never_releases_the_hold_of_an_outstanding_leased_part()
    {
        var shard = ClusterFixture.NewShard("silo-kill");
        var writer = fixture.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var victim = fixture.Cluster.Silos[1];
        var reader = await OpenReaderOn(shard, victim.SiloAddress.ToString());
        var leased = await reader.SnapshotAsync(0);
        for (var t = 1UL; t < 4; t++) await writer.CompareAndAppendAsync([At(t, "b")], F(t), F(t + 1));
        await fixture.HeartbeatAsync(reader);
        Assert.Equal(leased.SeqNo, (await reader.InspectAsync()).Durable!.SeqNoHold);

        await fixture.Cluster.KillSiloAsync(victim);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Nobody calls the reader: the shard notices its overdue heartbeat and wakes the lease grain, which
        // reactivates on the surviving silo from the durable holds and heartbeats again.
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var lastBeforeKill = (await shardGrain.ReaderStatus(reader.Reader))!.LastHeartbeat;
        ReaderStatus? status = null;
        for (var step = 0; step < 8 && (status is null || status.LastHeartbeat <= lastBeforeKill); step++)
        {
            fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
            await Task.Delay(300);
            status = await shardGrain.ReaderStatus(reader.Reader);
        }
        Assert.NotNull(status);
        Assert.True(status.LastHeartbeat > lastBeforeKill, "the lease grain did not come back");

        var info = await reader.InspectAsync();
        Assert.NotEqual(victim.SiloAddress.ToString(), info.Silo);
        Assert.Equal(1, info.OutstandingLeases);
        await fixture.HeartbeatAsync(reader);
        Assert.Equal(leased.SeqNo, (await reader.InspectAsync()).Durable!.SeqNoHold);
        Assert.Single(await reader.ReadAsync(leased));

        await reader.ReturnLeaseAsync(leased);
        var returned = await Eventually.Async(reader.InspectAsync, i => i.Durable!.SeqNoHold > leased.SeqNo, "hold stayed pinned");
        Assert.Equal(returned.Durable!.ShardSeqNo, returned.Durable.SeqNoHold);
        await reader.DisposeAsync();
    }

    /// <summary>Opens readers until one's lease grain lands on <paramref name="silo"/> (placement is random).</summary>
    private async Task<ReadHandle> OpenReaderOn(ShardId shard, string silo)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
            if ((await reader.InspectAsync()).Silo == silo) return reader;
            await reader.DisposeAsync();
        }
        throw new InvalidOperationException($"no lease grain was placed on {silo}");
    }
}
