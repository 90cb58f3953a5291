using System.Collections.Immutable;
using Orleans.Leases.Shards;

namespace Orleans.Leases.Readers;

/// <summary>
/// The hold state a reader's lease grain shares with its client, and the rules of its background task: what the
/// client asked for, what is durable, when a change is worth an early sync, what the next sync carries and what its
/// answer makes durable. Pure: no clock (time comes in as <c>now</c>), no calls, no timers, so it is tested alone;
/// <see cref="ReaderLeaseGrain"/> owns the timers and the calls.
/// </summary>
internal sealed class LeaseTask(ShardId shard, ReaderId reader)
{
    private readonly Dictionary<ulong, ulong> _outstanding = [];   // leases the client holds: id → seqno
    private readonly HashSet<ulong> _returned = [];                // given back, not yet durable
    private string? _secretHash;     // of the secret the opening client holds: its verbs must carry the secret
    private DateTimeOffset _clientAnsweredAt;
    private bool _tickPending;       // the next sync is a heartbeat
    private bool _urgent;            // the next sync carries a woken change: the shard writes it at once
    private bool _heldSync;          // a heartbeat sync is out; the shard may be holding it back
    private int _leasesInFlight;
    private long _leasesStarted;     // snapshots asked for: tells a ping answer older than a lease from a current one
    private int _failedSyncs;        // in a row: the retry backs off

    public LeaseState State { get; private set; } = LeaseState.NotOpen;

    public bool IsLive => State == LeaseState.Live;

    public string EndedBecause { get; private set; } = "the shard holds no such reader (closed, lapsed, or never opened)";

    /// <summary>The latest since the client asked for; the durable since reaches it at a later sync. Only advances.</summary>
    public Frontier RequestedSince { get; private set; }

    /// <summary>The shard's answer to the last sync (or to the registration or resume).</summary>
    public ReaderStatus? Durable { get; private set; }

    public TimeSpan HeartbeatInterval { get; private set; }

    public int OutstandingLeases => _outstanding.Count;

    public long Syncs { get; private set; }
    public long Wakeups { get; private set; }
    public long SinceDowngrades { get; private set; }
    public long Heartbeats { get; private set; }        // syncs that carried a tick
    public long SyncFailures { get; private set; }
    public long ClientUnanswered { get; private set; }

    /// <summary>Returns or downgrades only in memory: a new activation, starting from the durable holds, would lose them.</summary>
    public bool HasChangesNotDurable => _returned.Count > 0 || RequestedSince > Durable!.Since;

    /// <summary>While true a sync would only duplicate the held heartbeat: its answer sends the pending tick.</summary>
    public bool NextSyncWaitsForHeldOne => !_urgent && _heldSync;

    /// <summary>Takes up the shard's view of a newly registered or resumed reader, its leases included, so no hold moves
    /// past a part leased before.</summary>
    public void GoLive(ReaderStatus durable, string? secretHash, DateTimeOffset now)
    {
        Durable = durable;
        _secretHash = secretHash;
        _clientAnsweredAt = now;
        RequestedSince = durable.Since;
        foreach (var (leaseId, seqNo) in durable.Leases) _outstanding[leaseId] = seqNo;
        State = LeaseState.Live;
        HeartbeatInterval = durable.Settings.EffectiveHeartbeatInterval;
    }

    /// <summary>Ends the lease and forgets its leases; true if it was live.</summary>
    public bool End(string because)
    {
        var wasLive = IsLive;
        State = LeaseState.Ended;
        EndedBecause = because;
        _outstanding.Clear();
        _returned.Clear();
        return wasLive;
    }

    /// <summary>Why a live lease is over at <paramref name="now"/>: its last durable heartbeat is older than its
    /// duration, whether or not the shard has swept it yet. Null while it holds.</summary>
    public string? LapsedAt(DateTimeOffset now) =>
        IsLive && now > LeaseSettings.LapsesAt(Durable!.LastHeartbeat, Durable.Settings.LeaseDuration)
            ? $"no heartbeat since {Durable.LastHeartbeat:O}, lease {Durable.Settings.LeaseDuration}"
            : null;

    public void ThrowIfNotLive()
    {
        if (!IsLive) throw new LeaseExpiredException(reader.Value, EndedBecause);
    }

    public void ThrowIfEnded()
    {
        if (State == LeaseState.Ended) throw new LeaseExpiredException(reader.Value, EndedBecause);
    }

    /// <summary>Refuses the call unless the lease is live and <paramref name="secret"/> is the one it was opened with.</summary>
    public void Authorize(ReaderSecret secret)
    {
        ThrowIfNotLive();
        if (_secretHash is null || !secret.Matches(_secretHash))
            throw new AccessDeniedException($"Reader '{shard.Value}/{reader.Value}' acts only for the client that opened it.");
    }

    /// <summary>Asks for <paramref name="since"/>. Syncs early only when it would advance the shard's since; otherwise
    /// it rides the heartbeat.</summary>
    public SyncNeed DowngradeSince(Frontier since)
    {
        if (since < RequestedSince) throw new FrontierRegressionException("The reader's since", RequestedSince, since);
        if (since == RequestedSince) return SyncNeed.None;

        RequestedSince = since;
        SinceDowngrades++;
        return Frontier.Min(since, Durable!.OthersSince) > Durable.ShardSince ? Wake() : SyncNeed.NextHeartbeat;
    }

    /// <summary>A snapshot is being leased as of <paramref name="asOf"/>: answers the since to lease it at.</summary>
    public Frontier LeasingStarted(ulong asOf)
    {
        if (!RequestedSince.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, RequestedSince);
        _leasesInFlight++;
        _leasesStarted++;
        return RequestedSince;
    }

    public void LeasingAnswered() => _leasesInFlight--;

    public void Leased(LeasedSnapshot leased) => _outstanding[leased.LeaseId] = leased.SeqNo;

    /// <summary>Gives back a lease this task knows. False when it does not: it may have been leased through the
    /// previous activation, still finishing its calls when this one began; ask the shard, then
    /// <see cref="ReturnKnownToShard"/>.</summary>
    public bool TryReturn(ulong leaseId, out SyncNeed need)
    {
        if (!_outstanding.Remove(leaseId, out var seqNo))
        {
            need = SyncNeed.None;
            return false;
        }
        need = Returned(leaseId, seqNo);
        return true;
    }

    /// <summary>Gives back a lease this task did not know, as the shard's view <paramref name="resumed"/> has it.</summary>
    public SyncNeed ReturnKnownToShard(ulong leaseId, ResumedReader? resumed)
    {
        if (_returned.Contains(leaseId) || resumed is null || !resumed.Status.Leases.TryGetValue(leaseId, out var seqNo))
            throw new UnknownLeaseException(leaseId, reader.Value);
        return Returned(leaseId, seqNo);
    }

    // Syncs early only when the return may free retained seqnos: it was the lowest lease, the one pinning the hold.
    private SyncNeed Returned(ulong leaseId, ulong seqNo)
    {
        _returned.Add(leaseId);
        return _outstanding.Count == 0 || seqNo < _outstanding.Values.Min() ? Wake() : SyncNeed.NextHeartbeat;
    }

    private SyncNeed Wake()
    {
        Wakeups++;
        _urgent = true;
        return SyncNeed.Now;
    }

    /// <summary>The next sync goes out at once, not as a heartbeat the shard may hold back, without counting as a
    /// wakeup: a resumed lease's durable heartbeat is already old, and a deactivating one's changes would be lost.</summary>
    public void SyncUrgently() => _urgent = true;

    /// <summary>A heartbeat tick: the next sync heartbeats.</summary>
    public void Tick() => _tickPending = true;

    /// <summary>What the client is asked about: the snapshots started and every lease known, before the ping goes out.</summary>
    public ClientPing PingClient() => new(_leasesStarted, [.. _outstanding.Keys.Concat(Durable!.Leases.Keys).Distinct()]);

    /// <summary>Takes the client's answer to <paramref name="ping"/>; false if the client speaks for another reader.
    /// The client is the authority on what it holds: every lease known before the ping that it does not hold is
    /// returned — given back to an activation that died before making the return durable, or leased by an attempt
    /// whose answer never reached anyone (a timeout, a write in doubt), which would otherwise pin the seqno hold until
    /// close — and its latest since is asked for. Leases are left alone while a snapshot is being leased (its lease id
    /// is not known to the client yet), or when the answer is older than a snapshot asked for after the ping went out
    /// (answers and calls travel apart, e.g. through different gateways while a silo stops).</summary>
    public bool ClientAnswered(ClientPing ping, ClientHolds holds, DateTimeOffset now)
    {
        if (holds.SecretHash != _secretHash) return false;
        if (holds.Since > RequestedSince) RequestedSince = holds.Since;
        var current = ping.LeasesStarted == _leasesStarted;
        if (current && !holds.Leasing && _leasesInFlight == 0 && !holds.Leases.IsDefault)
        {
            foreach (var leaseId in ping.Known.Except(holds.Leases).Where(l => !_returned.Contains(l)))
            {
                _outstanding.Remove(leaseId);
                _returned.Add(leaseId);
            }
        }
        _clientAnsweredAt = now;
        return true;
    }

    /// <summary>The ping failed; true to heartbeat anyway. A ping that only timed out (a busy silo or client) is
    /// forgiven until the client has been silent for half a lease: an overloaded cluster must not drop live readers.</summary>
    public bool ClientSilent(bool timedOut, DateTimeOffset now)
    {
        ClientUnanswered++;
        return timedOut && now - _clientAnsweredAt < Durable!.Settings.LeaseDuration / 2;
    }

    /// <summary>What the next sync carries — the requested since, the returns not yet durable, and whether it is urgent
    /// or a heartbeat — and marks it sent. A plain heartbeat stays held until <see cref="HeldSyncAnswered"/>.</summary>
    public LeaseSync TakeSync()
    {
        var sync = new LeaseSync(RequestedSince, [.. _returned], _urgent, _tickPending);
        (_urgent, _tickPending) = (false, false);
        if (!sync.Urgent) _heldSync = true;
        return sync;
    }

    /// <summary>The shard's answer to <paramref name="sync"/>: the returns it carried are durable; any made while it was
    /// out wait for the next sync.</summary>
    public void Synced(LeaseSync sync, ReaderStatus status)
    {
        // A held heartbeat and an urgent sync can answer from one write: keep the later state.
        if (status.ShardSeqNo >= Durable!.ShardSeqNo) Durable = status;
        _returned.ExceptWith(sync.Returned);
        _failedSyncs = 0;
        Syncs++;
        if (sync.Tick) Heartbeats++;
    }

    /// <summary>The shard could not be reached: nothing was lost. Answers how long to wait before asking again: 1 s,
    /// doubling up to one heartbeat interval, so a grain just reactivated after a crash syncs well inside its lease.</summary>
    public TimeSpan SyncFailed(LeaseSync sync)
    {
        _urgent |= sync.Urgent;
        SyncFailures++;
        return TimeSpan.FromSeconds(Math.Min(HeartbeatInterval.TotalSeconds, Math.Pow(2, Math.Min(_failedSyncs++, 16))));
    }

    /// <summary>The wait after a failure is over: the retry heartbeats if the failed sync did.</summary>
    public void RetryDue(LeaseSync failed) => _tickPending |= failed.Tick;

    /// <summary>The shard refused this one sync: it never ends the lease by itself; its changes go with the next.</summary>
    public void SyncRefused(LeaseSync sync) => _urgent |= sync.Urgent;

    /// <summary>The held heartbeat is answered; true if a tick came meanwhile and needs a sync of its own.</summary>
    public bool HeldSyncAnswered()
    {
        _heldSync = false;
        return _tickPending;
    }
}

internal enum LeaseState { NotOpen, Live, Ended }

/// <summary>What a change asks of the lease task: nothing, to ride the next heartbeat, or a sync now (a wakeup).</summary>
internal enum SyncNeed { None, NextHeartbeat, Now }

/// <summary>One sync to the shard: the since and returns it makes durable, and whether it is urgent or a heartbeat.</summary>
internal sealed record LeaseSync(Frontier Since, ImmutableArray<ulong> Returned, bool Urgent, bool Tick);

/// <summary>A ping as it went out: the snapshots started so far and the leases known then.</summary>
internal sealed record ClientPing(long LeasesStarted, IReadOnlyCollection<ulong> Known);
