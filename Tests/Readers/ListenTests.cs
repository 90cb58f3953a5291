using Orleans.Leases.Tests.Infrastructure;
using Orleans.Leases.Tests.Shards;
using static Orleans.Leases.Tests.Infrastructure.Listening;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>Listens and subscriptions on silos that compact after every append (fanout 2, no minimum), batches stored
/// as parts.</summary>
[Collection(CompactionCluster.Name)]
public sealed class ListenTests(CompactionClusterFixture fixture)
{
    private ShardClient Shards => fixture.Shards;

    [Fact]
    public async Task A_subscription_yields_the_snapshot_then_every_later_update_once_with_rising_progress()
    {
        var shard = ClusterFixture.NewShard("subscribe");
        var writer = Shards.Writer(shard);
        List<Update> written = [At(0, "a"), At(0, "b")];
        await writer.CompareAndAppendAsync(written, F(0), F(1));
        await using var reader = await Shards.OpenReaderAsync(shard);
        await using var events = reader.SubscribeAsync(0, new ListenOptions()).GetAsyncEnumerator();

        var first = Assert.IsType<ListenEvent.Updates>(await NextAsync(events));
        Assert.Equal([At(0, "a"), At(0, "b")], first.Batch.ToArray());
        Assert.Equal((Frontier.Minimum, F(1)), (first.Lower, first.Upper));

        // Written while the subscription follows: a retraction among them.
        var appends = Task.Run(async () =>
        {
            for (var t = 1UL; t <= 6; t++)
            {
                Update[] batch = t == 3 ? [At(t, "a", diff: -1), At(t, "k3")] : [At(t, $"k{t}")];
                lock (written) written.AddRange(batch);
                await writer.CompareAndAppendAsync(batch, F(t), F(t + 1));
            }
        });
        var seen = await UntilAsync(events, 7);
        await appends;

        List<ListenEvent> all = [first, .. seen];
        AssertFollowed(all, written);
    }

    /// <summary>As Persist's regression_listen_compaction: batches the listen has not read yet are merged (with the
    /// one it has) before it reads them; it still yields exactly the updates after its progress, once each.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_listen_whose_unread_batches_were_compacted_yields_each_update_once(bool sinceFollowsProgress)
    {
        var shard = ClusterFixture.NewShard("listen-compacted");
        var writer = Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "before")], F(0), F(1));
        await using var reader = await Shards.OpenReaderAsync(shard);
        await using var events = reader.ListenAsync(0, new ListenOptions { SinceFollowsProgress = sinceFollowsProgress }).GetAsyncEnumerator();

        List<Update> written = [At(1, "y")];
        await writer.CompareAndAppendAsync(written, F(1), F(2));
        var seen = await UntilAsync(events, 2);

        for (var t = 2UL; t < 10; t++)
        {
            written.Add(At(t, $"k{t}"));
            await writer.CompareAndAppendAsync([written[^1]], F(t), F(t + 1));
        }
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Batches <= 2, "the unread batches were not merged");
        seen.AddRange(await UntilAsync(events, 10));

        AssertFollowed(seen, written);
        if (!sinceFollowsProgress) return;
        await writer.CompareAndAppendAsync([At(10, "next")], F(10), F(11));
        await NextAsync(events); // pulled past progress 10: the since follows it
        Assert.Equal(F(9), (await reader.InspectAsync()).RequestedSince);
    }

    /// <summary>With the since following the progress, a consumer that fails on a batch (before pulling past its
    /// progress) can listen again from its last checkpoint: the since has not moved past the batch.</summary>
    [Fact]
    public async Task A_consumer_that_fails_on_a_batch_listens_again_from_its_checkpoint_when_the_since_follows()
    {
        var shard = ClusterFixture.NewShard("listen-again");
        var writer = Shards.Writer(shard);
        await using var reader = await Shards.OpenReaderAsync(shard);
        var options = new ListenOptions { SinceFollowsProgress = true };
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await writer.CompareAndAppendAsync([At(1, "b")], F(1), F(2));

        var checkpoint = 0UL;
        await using (var failing = reader.SubscribeAsync(checkpoint, options).GetAsyncEnumerator())
        {
            await UntilAsync(failing, 1);                                                   // snapshot and progress 1: checkpoint 0
            Assert.IsType<ListenEvent.Updates>(await NextAsync(failing));                   // [1, 2): the consumer fails on it
        }

        await using var again = reader.ListenAsync(checkpoint, options).GetAsyncEnumerator();
        var batch = Assert.IsType<ListenEvent.Updates>(await NextAsync(again));
        Assert.Equal([At(1, "b")], batch.Batch.ToArray());
        await UntilAsync(again, 2);
        await writer.CompareAndAppendAsync([At(2, "c")], F(2), F(3));
        await NextAsync(again); // [2, 3)
        await NextAsync(again); // progress 3: the since follows only now, past the progress 2
        Assert.Equal(F(1), (await reader.InspectAsync()).RequestedSince);
    }

    [Fact]
    public async Task A_cancelled_listen_ends_with_no_lease_outstanding()
    {
        var shard = ClusterFixture.NewShard("listen-cancelled");
        await using var reader = await Shards.OpenReaderAsync(shard);
        using var cancel = new CancellationTokenSource();
        await using var events = reader.ListenAsync(0, new ListenOptions()).GetAsyncEnumerator(cancel.Token);

        var waiting = events.MoveNextAsync().AsTask(); // nothing written: it waits
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, (await reader.InspectAsync()).OutstandingLeases);
    }

    /// <summary>The seed's problem, for listeners: the consumer stops pulling for five lease durations while the shard
    /// moves on. The lease lives, its seqno hold follows the shard, and once resumed nothing is lost or doubled.</summary>
    [Fact]
    public async Task A_listener_blocked_for_five_leases_keeps_its_lease_pins_nothing_and_then_misses_nothing()
    {
        var shard = ClusterFixture.NewShard("listen-blocked");
        var writer = Shards.Writer(shard);
        var lease = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(2), HeartbeatInterval = TimeSpan.FromMilliseconds(500) };
        List<Update> written = [At(0, "first")];
        await writer.CompareAndAppendAsync(written, F(0), F(1));
        await using var reader = await Shards.OpenReaderAsync(shard, lease);
        await using var events = reader.SubscribeAsync(0, new ListenOptions()).GetAsyncEnumerator();
        var seen = await UntilAsync(events, 1);

        // Blocked: nothing pulled while the shard takes 10 appends (and compacts) over five lease durations.
        var blocked = DateTime.UtcNow + 5 * lease.LeaseDuration;
        for (var t = 1UL; t <= 10; t++)
        {
            written.Add(At(t, $"k{t}"));
            await writer.CompareAndAppendAsync([written[^1]], F(t), F(t + 1));
            await Task.Delay(lease.LeaseDuration / 2);
        }
        var shardSeqNo = (await Shards.InspectAsync(shard)).SeqNo;
        var hold = await Eventually.Async(() => fixture.Client.GetGrain<IShardGrain>(shard.Value).ReaderStatus(reader.Reader),
            s => s is not null && s.SeqNoHold >= shardSeqNo, "the blocked listener's seqno hold did not follow the shard");
        Assert.Empty(hold!.Leases);
        var remaining = blocked - DateTime.UtcNow;
        if (remaining > TimeSpan.Zero) await Task.Delay(remaining);
        Assert.True((await reader.InspectAsync()).IsLive);

        seen.AddRange(await UntilAsync(events, 11));
        AssertFollowed(seen, written);
    }
}
