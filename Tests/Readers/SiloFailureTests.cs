using Orleans.Leases.Tests.Infrastructure;
using Orleans.TestingHost;
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
        var victim = await SecondSiloAsync();
        var reader = await OpenReaderOn(shard, victim.SiloAddress.ToString());
        var leased = await reader.SnapshotAsync(0);
        for (var t = 1UL; t < 4; t++) await writer.CompareAndAppendAsync([At(t, "b")], F(t), F(t + 1));
        await fixture.HeartbeatAsync(reader);
        Assert.Equal(leased.SeqNo, (await reader.InspectAsync()).Durable!.SeqNoHold);

        await fixture.Cluster.KillSiloAsync(victim);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Nobody calls the reader: the shard notices its overdue heartbeat and wakes the lease grain, which
        // reactivates on the surviving silo from the durable holds and heartbeats again.
        await ReactivatedAsync(shard, reader);

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

    [Fact]
    public async Task Returns_and_downgrades_not_yet_durable_when_the_lease_silo_dies_are_not_lost()
    {
        var shard = ClusterFixture.NewShard("lost-return");
        var writer = fixture.Shards.Writer(shard);
        for (var t = 0UL; t < 4; t++) await writer.CompareAndAppendAsync([At(t, "a")], F(t), F(t + 1));
        var victim = await SecondSiloAsync();
        await using var anchor = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings); // holds the shard's since at 0
        var reader = await OpenReaderOn(shard, victim.SiloAddress.ToString());
        var first = await reader.SnapshotAsync(1);
        await writer.CompareAndAppendAsync([At(4, "b")], F(4), F(5));
        var second = await reader.SnapshotAsync(2);
        await fixture.HeartbeatAsync(reader);

        // Neither wakes the lease grain (the return is not the lowest lease; the anchor holds since lower), so both
        // ride the next heartbeat, which never comes: the silo dies first.
        await reader.ReturnLeaseAsync(second);
        await reader.DowngradeSinceAsync(F(3));
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var beforeKill = (await shardGrain.ReaderStatus(reader.Reader))!;
        Assert.Equal([first.LeaseId, second.LeaseId], beforeKill.Leases.Keys);
        Assert.Equal(F(0), beforeKill.Since);
        await fixture.Cluster.KillSiloAsync(victim);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // The first sync of the new activation carries what the client gave back and asked for.
        var resumed = await ReactivatedAsync(shard, reader);
        Assert.Equal([first.LeaseId], resumed.Leases.Keys);
        Assert.Equal(F(3), resumed.Since);
        Assert.True(resumed.SeqNoHold <= first.SeqNo);

        // Only the lease the client still holds pinned the hold; once it is back, the hold moves past both.
        await reader.ReturnLeaseAsync(first);
        var status = await Eventually.Async(async () => (await shardGrain.ReaderStatus(reader.Reader))!,
            s => s.Leases.IsEmpty && s.SeqNoHold > second.SeqNo, "the hold stayed pinned by a returned lease");
        Assert.Equal(status.ShardSeqNo, status.SeqNoHold);
        await reader.DisposeAsync();
    }

    /// <summary>The silo keeping a listener's lease grain dies while batches the listener has not read wait: the listen
    /// goes on (the grain reactivates from the durable holds on the next call) and yields each update once.</summary>
    [Fact]
    public async Task A_listener_whose_lease_silo_is_killed_resumes_with_nothing_lost_or_doubled()
    {
        var shard = ClusterFixture.NewShard("listen-kill");
        var writer = fixture.Shards.Writer(shard);
        List<Update> written = [At(0, "a")];
        await writer.CompareAndAppendAsync(written, F(0), F(1));
        var victim = await SecondSiloAsync();
        var reader = await OpenReaderOn(shard, victim.SiloAddress.ToString());
        await using var events = reader.SubscribeAsync(0, new ListenOptions()).GetAsyncEnumerator();
        var seen = await Listening.UntilAsync(events, 1);
        for (var t = 1UL; t < 4; t++)
        {
            written.Add(At(t, $"k{t}"));
            await writer.CompareAndAppendAsync([written[^1]], F(t), F(t + 1));
        }
        seen.AddRange(await Listening.UntilAsync(events, 3)); // read partway: [3, 4) waits for it

        await fixture.Cluster.KillSiloAsync(victim);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);
        for (var t = 4UL; t < 6; t++)
        {
            written.Add(At(t, $"k{t}"));
            await writer.CompareAndAppendAsync([written[^1]], F(t), F(t + 1));
        }

        seen.AddRange(await Listening.UntilAsync(events, 6));
        Listening.AssertFollowed(seen, written);
        var info = await reader.InspectAsync();
        Assert.NotEqual(victim.SiloAddress.ToString(), info.Silo);
        Assert.Equal(0, info.OutstandingLeases);
        await reader.DisposeAsync();
    }

    /// <summary>Advances the fake clock a heartbeat at a time (the shard's sweep wakes overdue lease grains) until the
    /// reader's lease grain has reactivated and synced; answers its durable holds then.</summary>
    private async Task<ReaderStatus> ReactivatedAsync(ShardId shard, ReadHandle reader)
    {
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var lastBeforeKill = (await shardGrain.ReaderStatus(reader.Reader))!.LastHeartbeat;
        for (var step = 0; step < 4; step++)
        {
            fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
            try
            {
                return await Eventually.Async(async () => (await shardGrain.ReaderStatus(reader.Reader))!,
                    s => s.LastHeartbeat > lastBeforeKill, "not yet", TimeSpan.FromSeconds(3));
            }
            catch (Xunit.Sdk.XunitException)
            {
                // Not woken at this time yet: the next heartbeat interval.
            }
        }
        throw new Xunit.Sdk.XunitException("the lease grain did not come back within four heartbeat intervals");
    }

    /// <summary>A silo to kill beside the primary, started anew when an earlier test killed it.</summary>
    private async Task<InProcessSiloHandle> SecondSiloAsync()
    {
        if (fixture.Cluster.Silos.Count < 2)
        {
            await fixture.Cluster.StartAdditionalSiloAsync();
            await fixture.Cluster.WaitForLivenessToStabilizeAsync();
        }
        return fixture.Cluster.Silos[1];
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
