using System.Collections.Immutable;
using Orleans.Leases.Readers;
using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

public sealed class LeaseTaskTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;
    private static readonly LeaseSettings Lease = new() { LeaseDuration = TimeSpan.FromSeconds(60) }; // heartbeat 15 s
    private static readonly ReaderSecret Secret = ReaderSecret.New();
    private static readonly ShardId Shard = new("shard");
    private static readonly ReaderId Reader = new("reader");

    /// <summary>The shard's view of the reader: by default its only reader, so its since is the shard's.</summary>
    private static ReaderStatus Status(
        Frontier since, ulong shardSeqNo = 5, Frontier? shardSince = null, Frontier? othersSince = null,
        params (ulong Id, ulong SeqNo)[] leases) =>
        new(since, shardSeqNo, Start, leases.ToImmutableSortedDictionary(l => l.Id, l => l.SeqNo), shardSeqNo,
            shardSince ?? since, othersSince ?? Frontier.Empty, Lease, TestClient);

    private static LeaseTask Live(ReaderStatus durable)
    {
        var task = new LeaseTask(Shard, Reader);
        task.GoLive(durable, Secret.Hash(), Start);
        return task;
    }

    private static LeaseTask Live(params (ulong Id, ulong SeqNo)[] leases) => Live(Status(F(3), leases: leases));

    private static ResumedReader ShardHolds(params (ulong Id, ulong SeqNo)[] leases) =>
        new(Status(F(3), leases: leases), Secret.Hash());

    private static ClientHolds ClientHolding(Frontier since, params ulong[] leases) =>
        new(since, [.. leases], Leasing: false, Secret.Hash());

    [Fact]
    public void A_downgrade_below_the_requested_since_is_refused_and_moves_nothing_back()
    {
        var task = Live();
        task.DowngradeSince(F(5));

        Assert.Throws<FrontierRegressionException>(() => task.DowngradeSince(F(4)));

        Assert.Equal(F(5), task.RequestedSince);
        Assert.Equal(F(5), task.TakeSync().Since);
    }

    [Fact]
    public void A_downgrade_to_the_requested_since_changes_nothing()
    {
        var task = Live();

        Assert.Equal(SyncNeed.None, task.DowngradeSince(F(3)));

        Assert.Equal(0, task.SinceDowngrades);
        Assert.False(task.HasChangesNotDurable);
    }

    [Fact]
    public void A_downgrade_that_advances_the_shards_since_wakes_the_task()
    {
        var task = Live();

        Assert.Equal(SyncNeed.Now, task.DowngradeSince(F(5)));

        Assert.Equal(1, task.Wakeups);
        Assert.Equal(1, task.SinceDowngrades);
        Assert.True(task.TakeSync().Urgent);
    }

    [Fact]
    public void A_downgrade_another_reader_holds_back_rides_the_heartbeat()
    {
        var task = Live(Status(F(3), othersSince: F(3)));

        Assert.Equal(SyncNeed.NextHeartbeat, task.DowngradeSince(F(5)));

        Assert.Equal(0, task.Wakeups);
        Assert.Equal(1, task.SinceDowngrades);
        var sync = task.TakeSync();
        Assert.False(sync.Urgent);
        Assert.Equal(F(5), sync.Since);
    }

    [Fact]
    public void Returning_the_lease_that_pins_the_hold_wakes_the_task_and_a_later_one_rides_the_heartbeat()
    {
        var task = Live((1, 5), (2, 8), (3, 9));

        Assert.True(task.TryReturn(2, out var later));
        Assert.Equal(SyncNeed.NextHeartbeat, later);
        Assert.True(task.TryReturn(1, out var lowest));
        Assert.Equal(SyncNeed.Now, lowest);
        Assert.True(task.TryReturn(3, out var last));
        Assert.Equal(SyncNeed.Now, last);

        Assert.Equal(2, task.Wakeups);
        Assert.Equal<ulong>([1, 2, 3], task.TakeSync().Returned.Order());
    }

    [Fact]
    public void A_lease_this_task_never_saw_is_left_to_the_shard_and_refused_if_the_shard_does_not_hold_it_either()
    {
        var task = Live((1, 5));

        Assert.False(task.TryReturn(7, out var need));
        Assert.Equal(SyncNeed.None, need);
        Assert.Throws<UnknownLeaseException>(() => task.ReturnKnownToShard(7, ShardHolds((1, 5))));
        Assert.Throws<UnknownLeaseException>(() => task.ReturnKnownToShard(7, null));

        Assert.Equal(1, task.OutstandingLeases);
        Assert.Empty(task.TakeSync().Returned);
    }

    [Fact]
    public void A_lease_known_only_to_the_shard_is_returned_at_its_seqno()
    {
        var task = Live((1, 5));

        Assert.False(task.TryReturn(7, out _));
        // Leased at seqno 2, below the only lease this task knows: it was the one pinning the hold.
        Assert.Equal(SyncNeed.Now, task.ReturnKnownToShard(7, ShardHolds((1, 5), (7, 2))));

        Assert.Equal<ulong>([7], task.TakeSync().Returned);
    }

    [Fact]
    public void A_lease_returned_twice_is_refused_even_while_the_shard_still_holds_it()
    {
        var task = Live((1, 5));
        Assert.True(task.TryReturn(1, out _));

        Assert.False(task.TryReturn(1, out _));
        Assert.Throws<UnknownLeaseException>(() => task.ReturnKnownToShard(1, ShardHolds((1, 5))));
    }

    [Fact]
    public void A_sync_makes_durable_only_the_returns_it_carried()
    {
        var task = Live((1, 5), (2, 8));
        task.TryReturn(1, out _);
        var sync = task.TakeSync();
        task.TryReturn(2, out _); // while the sync is out

        task.Synced(sync, Status(F(3), shardSeqNo: 6));

        Assert.True(task.HasChangesNotDurable);
        Assert.Equal<ulong>([2], task.TakeSync().Returned);
    }

    [Fact]
    public void A_sync_answered_with_an_older_state_keeps_the_later_durable_view()
    {
        var task = Live();
        var (first, second) = (task.TakeSync(), task.TakeSync());

        task.Synced(second, Status(F(4), shardSeqNo: 10));
        task.Synced(first, Status(F(3), shardSeqNo: 8));

        Assert.Equal(10UL, task.Durable!.ShardSeqNo);
        Assert.Equal(2, task.Syncs);
    }

    [Fact]
    public void A_held_heartbeat_holds_back_the_next_tick_but_not_a_woken_change()
    {
        var task = Live();
        task.Tick();
        var held = task.TakeSync();
        Assert.True(held.Tick);
        Assert.False(held.Urgent);

        task.Tick();
        Assert.True(task.NextSyncWaitsForHeldOne);
        task.DowngradeSince(F(5));
        Assert.False(task.NextSyncWaitsForHeldOne);
        var urgent = task.TakeSync();
        Assert.True(urgent.Urgent);
        Assert.True(urgent.Tick);

        Assert.False(task.HeldSyncAnswered()); // the urgent sync took the tick along
    }

    [Fact]
    public void A_tick_during_a_held_heartbeat_is_sent_when_it_is_answered()
    {
        var task = Live();
        task.Tick();
        var held = task.TakeSync();
        task.Tick();

        task.Synced(held, Status(F(3), shardSeqNo: 6));

        Assert.True(task.HeldSyncAnswered());
        Assert.False(task.NextSyncWaitsForHeldOne);
        Assert.True(task.TakeSync().Tick);
        Assert.Equal(1, task.Heartbeats);
    }

    [Fact]
    public void A_failed_sync_stays_urgent_and_retries_after_a_wait_that_doubles_up_to_the_heartbeat_interval()
    {
        var task = Live();
        task.DowngradeSince(F(5));
        var sync = task.TakeSync();

        var waits = Enumerable.Range(0, 6).Select(_ => task.SyncFailed(sync).TotalSeconds).ToArray();

        Assert.Equal([1, 2, 4, 8, 15, 15], waits);
        Assert.Equal(6, task.SyncFailures);
        var retry = task.TakeSync();
        Assert.True(retry.Urgent);
        task.Synced(retry, Status(F(5), shardSeqNo: 6));
        Assert.Equal(TimeSpan.FromSeconds(1), task.SyncFailed(task.TakeSync()));
    }

    [Fact]
    public void A_failed_heartbeat_heartbeats_again_when_its_retry_is_due()
    {
        var task = Live();
        task.Tick();
        var failed = task.TakeSync();
        task.SyncFailed(failed);
        Assert.False(task.TakeSync().Tick);

        task.RetryDue(failed);

        Assert.True(task.TakeSync().Tick);
    }

    [Fact]
    public void A_lease_the_client_no_longer_holds_is_returned_and_its_latest_since_asked_for()
    {
        var task = Live((1, 5), (2, 8));
        var ping = task.PingClient();

        Assert.True(task.ClientAnswered(ping, ClientHolding(F(6), 2), Start));

        var sync = task.TakeSync();
        Assert.Equal<ulong>([1], sync.Returned);
        Assert.Equal(F(6), sync.Since);
        Assert.Equal(1, task.OutstandingLeases);
    }

    [Fact]
    public void A_ping_answer_older_than_a_snapshot_returns_nothing()
    {
        var task = Live((1, 5));
        var ping = task.PingClient();
        task.LeasingStarted(4);
        task.LeasingAnswered();
        task.Leased(new LeasedSnapshot(2, 9, 4, []));

        Assert.True(task.ClientAnswered(ping, ClientHolding(F(3)), Start));

        Assert.Empty(task.TakeSync().Returned);
        Assert.Equal(2, task.OutstandingLeases);
    }

    [Fact]
    public void A_ping_answered_while_a_snapshot_is_being_leased_returns_nothing()
    {
        var task = Live((1, 5));
        task.LeasingStarted(4);
        var ping = task.PingClient();

        Assert.True(task.ClientAnswered(ping, ClientHolding(F(3)), Start));

        Assert.Empty(task.TakeSync().Returned);
    }

    [Fact]
    public void An_observer_of_another_reader_vouches_for_nothing()
    {
        var task = Live((1, 5));
        var ping = task.PingClient();

        Assert.False(task.ClientAnswered(ping, ClientHolding(F(6)) with { SecretHash = ReaderSecret.New().Hash() }, Start));

        Assert.Equal(F(3), task.RequestedSince);
        Assert.Equal(1, task.OutstandingLeases);
    }

    [Fact]
    public void A_client_that_only_timed_out_is_forgiven_for_half_a_lease_since_it_last_answered()
    {
        var task = Live();
        task.ClientAnswered(task.PingClient(), ClientHolding(F(3)), Start + TimeSpan.FromSeconds(10));

        Assert.True(task.ClientSilent(timedOut: true, Start + TimeSpan.FromSeconds(39)));
        Assert.False(task.ClientSilent(timedOut: true, Start + TimeSpan.FromSeconds(40)));
        Assert.False(task.ClientSilent(timedOut: false, Start + TimeSpan.FromSeconds(11)));
        Assert.Equal(3, task.ClientUnanswered);
    }

    [Fact]
    public void A_snapshot_below_the_requested_since_is_refused_and_leaves_a_ping_answer_current()
    {
        var task = Live((1, 5));
        task.DowngradeSince(F(5));
        var ping = task.PingClient();

        Assert.Throws<AsOfBeforeSinceException>(() => task.LeasingStarted(4));

        task.ClientAnswered(ping, ClientHolding(F(5)), Start);
        Assert.Equal<ulong>([1], task.TakeSync().Returned);
        Assert.Equal(F(5), task.LeasingStarted(5));
    }

    [Fact]
    public void Another_clients_secret_is_refused()
    {
        var task = Live();

        Assert.Throws<AccessDeniedException>(() => task.Authorize(ReaderSecret.New()));
        task.Authorize(Secret);
    }

    [Fact]
    public void A_lease_lapses_only_once_its_last_durable_heartbeat_is_older_than_its_duration()
    {
        var task = Live();

        Assert.Null(task.LapsedAt(Start + Lease.LeaseDuration));
        Assert.NotNull(task.LapsedAt(Start + Lease.LeaseDuration + TimeSpan.FromTicks(1)));
    }

    [Fact]
    public void An_ended_lease_refuses_every_verb_and_forgets_its_leases()
    {
        var task = Live((1, 5));
        task.TryReturn(1, out _);

        Assert.True(task.End("it was closed"));

        Assert.Equal(LeaseState.Ended, task.State);
        Assert.Equal(0, task.OutstandingLeases);
        Assert.Empty(task.TakeSync().Returned);
        Assert.Null(task.LapsedAt(Start + TimeSpan.FromDays(1)));
        Assert.Contains("it was closed", Assert.Throws<LeaseExpiredException>(() => task.Authorize(Secret)).Message);
        Assert.Throws<LeaseExpiredException>(task.ThrowIfEnded);
        Assert.False(task.End("closed again")); // already over: the live-lease count must not drop twice
    }

    [Fact]
    public void A_lease_never_opened_refuses_verbs_but_may_still_open()
    {
        var task = new LeaseTask(Shard, Reader);

        Assert.Throws<LeaseExpiredException>(() => task.Authorize(Secret));
        task.ThrowIfEnded();
    }

    [Fact]
    public void A_resumed_lease_keeps_the_leases_the_shard_holds_for_it()
    {
        var task = Live((4, 2), (6, 7));

        Assert.Equal(2, task.OutstandingLeases);
        Assert.Equal<ulong>([4, 6], task.PingClient().Known.Order());
        Assert.True(task.TryReturn(4, out var need));
        Assert.Equal(SyncNeed.Now, need);
    }
}
