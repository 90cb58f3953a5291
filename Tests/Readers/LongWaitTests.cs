using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>On the real clock: Orleans' response timeout (30 s) is real time.</summary>
[Collection(ShardCluster.Name)]
public sealed class LongWaitTests(ShardClusterFixture fixture)
{
    [Fact]
    public async Task Snapshot_waiting_longer_than_the_response_timeout_completes_and_the_lease_keeps_moving()
    {
        var shard = ClusterFixture.NewShard("long-wait");
        var writer = fixture.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(15), HeartbeatInterval = TimeSpan.FromSeconds(1) };
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, settings);

        var snapshot = reader.SnapshotAsync(5);
        await Task.Delay(TimeSpan.FromSeconds(35));

        Assert.False(snapshot.IsCompleted, $"the snapshot ended early: {snapshot.Exception?.GetBaseException()}");
        var info = await reader.InspectAsync();
        Assert.True(info.IsLive);
        Assert.True(info.Syncs >= 20, $"only {info.Syncs} syncs in 35 s at a 1 s heartbeat");
        await writer.CompareAndAppendAsync([At(1, "b")], F(1), F(6));
        var leased = await snapshot.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, (await reader.ReadAsync(leased)).Length);
    }

    [Fact]
    public async Task Snapshot_wait_ends_with_the_callers_own_timeout()
    {
        var shard = ClusterFixture.NewShard("caller-timeout");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader.SnapshotAsync(10, timeout.Token));
        Assert.True((await reader.InspectAsync()).IsLive);
    }
}
