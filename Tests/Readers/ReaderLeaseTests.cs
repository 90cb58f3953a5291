using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

[Collection(LeaseCluster.Name)]
public sealed class ReaderLeaseTests(LeaseClusterFixture fixture)
{
    private ShardClient Shards => fixture.Shards;

    private async Task<(ShardId Shard, WriteHandle Writer)> ShardUpTo(string name, ulong upper)
    {
        var shard = ClusterFixture.NewShard(name);
        var writer = Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "first")], F(0), F(upper));
        return (shard, writer);
    }

    private Task<ReadHandle> Open(ShardId shard) => Shards.OpenReaderAsync(shard, fixture.Settings);

    [Fact]
    public async Task A_new_reader_starts_at_the_shards_since_and_seqno()
    {
        var (shard, _) = await ShardUpTo("open", 10);
        await using var first = await Open(shard);
        await first.DowngradeSinceAsync(F(5)); // the only reader: advances the shard's since, so it syncs early
        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Since == F(5), "since did not reach 5");

        await using var second = await Open(shard);

        var info = await second.InspectAsync();
        var shardInfo = await Shards.InspectAsync(shard);
        Assert.Equal(F(5), info.Durable!.Since);
        Assert.Equal(shardInfo.SeqNo, info.Durable.SeqNoHold);
        Assert.Equal(F(5), second.Since);
    }

    [Fact]
    public async Task Since_downgrade_returns_without_storage_and_is_durable_after_one_heartbeat()
    {
        var (shard, _) = await ShardUpTo("downgrade", 10);
        await using var a = await Open(shard);
        await using var b = await Open(shard);
        await fixture.HeartbeatAsync(a, b); // a learns that b holds the shard's since too
        var writesBefore = (await Shards.InspectAsync(shard)).Counters.StateWrites;

        await a.DowngradeSinceAsync(F(3));

        var shardInfo = await Shards.InspectAsync(shard);
        Assert.Equal(writesBefore, shardInfo.Counters.StateWrites);
        Assert.Equal(F(0), (await a.InspectAsync()).Durable!.Since);
        Assert.Equal(0, (await a.InspectAsync()).Wakeups);

        await fixture.HeartbeatAsync(a, b);

        Assert.Equal(F(3), (await a.InspectAsync()).Durable!.Since);
        Assert.Equal(F(0), (await Shards.InspectAsync(shard)).Since); // b still holds 0: since is the meet (S2)
    }

    [Fact]
    public async Task Downgrade_that_advances_the_shards_since_syncs_without_waiting_for_the_heartbeat()
    {
        var (shard, _) = await ShardUpTo("early", 10);
        await using var a = await Open(shard);
        await using var b = await Open(shard);
        await a.DowngradeSinceAsync(F(6));
        await fixture.HeartbeatAsync(a, b);
        await fixture.HeartbeatAsync(a, b); // b has seen a's since durable (syncs of one group commit see each other late)

        await b.DowngradeSinceAsync(F(4)); // b is the holdout: the shard's since moves to min(6, 4)

        await Eventually.Async(() => Shards.InspectAsync(shard), i => i.Since == F(4), "since did not follow b early");
        Assert.Equal(1, (await b.InspectAsync()).Wakeups);
    }

    [Fact]
    public async Task Downgrades_that_change_nothing_for_others_do_not_wake_the_task()
    {
        var (shard, _) = await ShardUpTo("no-wake", 30);
        await using var a = await Open(shard);
        await using var b = await Open(shard);

        for (var since = 1UL; since <= 20; since++) await b.DowngradeSinceAsync(F(since));
        await fixture.HeartbeatAsync(a, b);

        var info = await b.InspectAsync();
        Assert.Equal((20L, 0L), (info.SinceDowngrades, info.Wakeups));
        Assert.Equal(F(20), info.Durable!.Since);
    }

    [Fact]
    public async Task Busy_reader_keeps_its_lease_while_blocked_in_snapshot()
    {
        var (shard, writer) = await ShardUpTo("busy", 1);
        await using var reader = await Open(shard);
        await reader.DowngradeSinceAsync(F(1));
        var snapshot = reader.SnapshotAsync(100); // upper is 1: this blocks until upper passes 100

        // Five lease durations pass while the client is blocked; the writer keeps appending.
        var heartbeats = (int)(5 * LeaseClusterFixture.Lease / LeaseClusterFixture.Heartbeat);
        for (var i = 0; i < heartbeats; i++)
        {
            await writer.CompareAndAppendAsync([At((ulong)i + 1, $"k{i}")], F((ulong)i + 1), F((ulong)i + 2));
            await fixture.HeartbeatAsync(reader);
            var durable = (await reader.InspectAsync()).Durable!;
            Assert.Equal(F(1), durable.Since);
            Assert.Equal(durable.ShardSeqNo, durable.SeqNoHold); // nothing leased: the hold follows the shard (L1)
        }

        Assert.False(snapshot.IsCompleted);
        Assert.True((await reader.InspectAsync()).IsLive);
        var upper = (ulong)heartbeats + 1;
        await writer.CompareAndAppendAsync([At(upper, "last")], F(upper), F(101));
        var leased = await snapshot.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(heartbeats + 2, (await reader.ReadAsync(leased)).Length);
    }

    [Fact]
    public async Task Leased_snapshot_pins_the_seqno_hold_until_it_is_returned()
    {
        var (shard, writer) = await ShardUpTo("pin", 1);
        await using var reader = await Open(shard);
        var leased = await reader.SnapshotAsync(0);
        for (var t = 1UL; t < 4; t++) await writer.CompareAndAppendAsync([At(t, "more")], F(t), F(t + 1));

        await fixture.HeartbeatAsync(reader);
        await fixture.HeartbeatAsync(reader);

        Assert.Equal(leased.SeqNo, (await reader.InspectAsync()).Durable!.SeqNoHold);
        Assert.Equal(leased.SeqNo, (await Shards.InspectAsync(shard)).SeqNoSince);

        await reader.ReturnLeaseAsync(leased); // frees retained seqnos: syncs early

        var info = await Eventually.Async(reader.InspectAsync, i => i.Durable!.SeqNoHold > leased.SeqNo, "hold stayed pinned");
        Assert.Equal(info.Durable!.ShardSeqNo, info.Durable.SeqNoHold);
        Assert.Equal(1, info.Wakeups);
        await Assert.ThrowsAsync<UnknownLeaseException>(() => reader.ReturnLeaseAsync(leased));
    }

    [Fact]
    public async Task Closed_reader_releases_its_holds_and_every_later_call_fails()
    {
        var (shard, _) = await ShardUpTo("closed", 10);
        var a = await Open(shard);
        await using var b = await Open(shard);
        await b.DowngradeSinceAsync(F(5));
        var leased = await a.SnapshotAsync(2);
        await fixture.HeartbeatAsync(a, b);
        Assert.Equal(F(0), (await Shards.InspectAsync(shard)).Since);

        await a.ExpireAsync();

        var closed = await Shards.InspectAsync(shard);
        Assert.Equal((F(5), 1), (closed.Since, closed.Readers));
        await Assert.ThrowsAsync<LeaseExpiredException>(() => a.DowngradeSinceAsync(F(6)));
        await Assert.ThrowsAsync<LeaseExpiredException>(() => a.SnapshotAsync(6));
        await Assert.ThrowsAsync<LeaseExpiredException>(() => a.ReturnLeaseAsync(leased));
        await Assert.ThrowsAsync<LeaseExpiredException>(() => a.ExpireAsync());
        Assert.Equal(closed.SeqNo, (await Shards.InspectAsync(shard)).SeqNo);
    }

    [Fact]
    public async Task Many_downgrades_from_two_readers_at_once_end_at_the_meet()
    {
        var (shard, _) = await ShardUpTo("meet", 200);
        await using var a = await Open(shard);
        await using var b = await Open(shard);

        await Task.WhenAll(
            Task.Run(async () => { for (var t = 1UL; t <= 100; t++) await a.DowngradeSinceAsync(F(t)); }),
            Task.Run(async () => { for (var t = 2UL; t <= 150; t += 2) await b.DowngradeSinceAsync(F(t)); }));
        await fixture.HeartbeatAsync(a, b);

        Assert.Equal(F(100), (await a.InspectAsync()).Durable!.Since);
        Assert.Equal(F(150), (await b.InspectAsync()).Durable!.Since);
        Assert.Equal(F(100), (await Shards.InspectAsync(shard)).Since);
    }

    [Fact]
    public async Task Heartbeats_of_many_readers_share_the_shards_writes()
    {
        var (shard, _) = await ShardUpTo("many", 10);
        var readers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Open(shard)));
        var before = (await Shards.InspectAsync(shard)).Counters;

        await fixture.HeartbeatAsync(readers);

        var after = (await Shards.InspectAsync(shard)).Counters;
        Assert.Equal(20, after.Commands - before.Commands);
        Assert.True(after.StateWrites - before.StateWrites < 20,
            $"{after.StateWrites - before.StateWrites} writes for 20 syncs: no group commit");
        foreach (var reader in readers) await reader.DisposeAsync();
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(-1, null)]
    [InlineData(90_000, null)]
    [InlineData(60, 60)]
    [InlineData(60, 0)]
    [InlineData(60, -5)]
    public async Task Bad_lease_settings_are_refused_and_register_nothing(int leaseSeconds, int? heartbeatSeconds)
    {
        var (shard, _) = await ShardUpTo("settings", 1);
        var settings = new LeaseSettings
        {
            LeaseDuration = TimeSpan.FromSeconds(leaseSeconds),
            HeartbeatInterval = heartbeatSeconds is { } h ? TimeSpan.FromSeconds(h) : null,
        };

        await Assert.ThrowsAsync<InvalidLeaseSettingsException>(() => Shards.OpenReaderAsync(shard, settings));
        var key = ReaderLeaseKey.Format(shard, ReaderId.NewId());
        await Assert.ThrowsAsync<InvalidLeaseSettingsException>(() => fixture.Client.GetGrain<IReaderLeaseGrain>(key).Open(ReaderSecret.New(), settings, null!));

        Assert.Equal(0, (await Shards.InspectAsync(shard)).Readers);
    }

    [Fact]
    public async Task Bad_reader_calls_are_refused_and_change_nothing()
    {
        var (shard, _) = await ShardUpTo("bad-reader", 10);
        await using var reader = await Open(shard);
        await reader.DowngradeSinceAsync(F(4));
        var before = await reader.InspectAsync();

        await Assert.ThrowsAsync<FrontierRegressionException>(() => reader.DowngradeSinceAsync(F(3)));
        await Assert.ThrowsAsync<AsOfBeforeSinceException>(() => reader.SnapshotAsync(3));
        await Assert.ThrowsAsync<UnknownLeaseException>(() => reader.ReturnLeaseAsync(new LeasedSnapshot(42, 1, 4, [])));
        Assert.Throws<InvalidReaderIdException>(() => new ReaderId("has space"));
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            fixture.Client.GetGrain<IReaderLeaseGrain>($"{shard}/bad id").Inspect());
        Assert.IsType<InvalidReaderIdException>(error.GetBaseException());

        var after = await reader.InspectAsync();
        Assert.Equal((before.RequestedSince, before.OutstandingLeases), (after.RequestedSince, after.OutstandingLeases));
    }

    [Fact]
    public async Task A_lease_whose_answer_never_reached_the_client_is_given_back_at_the_next_heartbeat()
    {
        var (shard, writer) = await ShardUpTo("lost-answer", 2);
        await using var reader = await Open(shard);
        var kept = await reader.SnapshotAsync(0);
        // A lease taken on the reader's behalf whose answer the handle never saw (as when an answer is lost and the
        // handle retries): the lease grain and the shard record it, the client does not hold it.
        var secret = (ReaderSecret)typeof(ReadHandle).GetField("_secret", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(reader)!;
        var lost = await fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader.Reader)).Snapshot(secret, 1);
        await writer.CompareAndAppendAsync([At(2, "more")], F(2), F(3));
        await fixture.HeartbeatAsync(reader);
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        Assert.Equal([kept.LeaseId], (await shardGrain.ReaderStatus(reader.Reader))!.Leases.Keys);
        Assert.NotNull(lost);

        await reader.ReturnLeaseAsync(kept);
        var status = await Eventually.Async(async () => (await shardGrain.ReaderStatus(reader.Reader))!, s => s.Leases.IsEmpty,
            "the returned lease stayed");
        Assert.Equal(status.ShardSeqNo, status.SeqNoHold);
    }

    [Fact]
    public async Task A_ping_answer_older_than_a_lease_the_client_took_gives_that_lease_back_never()
    {
        var (shard, writer) = await ShardUpTo("late-ping", 2);
        var secret = ReaderSecret.New();
        var reader = ReaderId.NewId();
        var client = new SlowClient(new ClientHolds(F(0), [], false, secret.Hash()));
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader));
        await lease.Open(secret, fixture.Settings, fixture.Client.CreateObjectReference<IReaderClient>(client));
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        var before = (await lease.Inspect()).Heartbeats;

        // The heartbeat's ping is answered (no lease held yet), but the answer is slow to arrive: meanwhile the
        // client leases a snapshot and holds it.
        var answer = client.HoldNextAnswer();
        fixture.Time.Advance(LeaseClusterFixture.Heartbeat);
        await client.Pinged.Task;
        var leased = (await lease.Snapshot(secret, 1))!;
        client.Holds = client.Holds with { Leases = [leased.LeaseId] };
        await writer.CompareAndAppendAsync([At(2, "more")], F(2), F(3));
        answer.SetResult();

        await Eventually.Async(lease.Inspect, i => i.Heartbeats > before, "the heartbeat did not sync");
        var synced = (await shardGrain.ReaderStatus(reader))!;
        Assert.Equal([leased.LeaseId], synced.Leases.Keys);
        Assert.True(synced.SeqNoHold <= leased.SeqNo, $"the hold {synced.SeqNoHold} moved past the held lease at {leased.SeqNo}");
        await lease.Expire(secret);
    }

    /// <summary>A reader's client whose next ping answer is taken at once and delivered when the test says.</summary>
    private sealed class SlowClient(ClientHolds holds) : IReaderClient
    {
        private TaskCompletionSource? _gate;

        public ClientHolds Holds { get; set; } = holds;

        public TaskCompletionSource Pinged { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource HoldNextAnswer() => _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<ClientHolds> Ping()
        {
            var answer = Holds;
            if (Interlocked.Exchange(ref _gate, null) is { } gate)
            {
                Pinged.SetResult();
                await gate.Task;
            }
            return answer;
        }
    }

    [Fact]
    public async Task A_reader_never_opened_is_expired()
    {
        var (shard, _) = await ShardUpTo("never", 1);
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, ReaderId.NewId()));

        await Assert.ThrowsAsync<LeaseExpiredException>(() => lease.DowngradeSince(ReaderSecret.New(), F(1)));
        await Assert.ThrowsAsync<LeaseExpiredException>(() => lease.Snapshot(ReaderSecret.New(), 0));
    }
}
