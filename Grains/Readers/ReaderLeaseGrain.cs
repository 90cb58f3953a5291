using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Orleans.Placement;
using Orleans.Runtime;

namespace Orleans.Leases.Readers;

/// <summary>
/// One leased reader (after Persist's read handle and its lease task). Client calls change the shared hold state
/// in memory and return; the background task — a grain timer — heartbeats the lease and makes every requested
/// downgrade durable in one shard call per sync. Waiting (for a shard's upper) never happens in this grain's turn,
/// and the timer interleaves with calls, so a busy or blocked client never stops the heartbeat.
/// </summary>
// Moving it buys nothing (the next activation resumes from the durable holds); a stalled move stops its heartbeats.
[GrainType("leases.reader-lease")]
[Immovable]
internal sealed partial class ReaderLeaseGrain(TimeProvider time, ServiceMetrics metrics, Callers callers, ILogger<ReaderLeaseGrain> logger)
    : Grain, IReaderLeaseGrain, IReaderLeaseTask, IIncomingGrainCallFilter
{
    private ShardId _shardId;
    private ReaderId _reader;
    private IShardReaders _shard = null!;
    private string? _secretHash; // of the secret the opening client holds: its verbs must carry the secret

    // The shared hold state.
    private LeaseState _lease = LeaseState.NotOpen;
    private string _endedBecause = "the shard holds no such reader (closed, lapsed, or never opened)";
    private Frontier _requestedSince;
    private readonly Dictionary<ulong, ulong> _outstanding = [];   // leases the client holds: id → seqno
    private readonly HashSet<ulong> _returned = [];                // given back, not yet durable
    private ReaderStatus? _durable;                                // the shard's answer to the last sync
    private IReaderClient? _client;                                // pinged before each heartbeat
    private DateTimeOffset _clientAnsweredAt;

    private BatchWorkerFromDelegate _sync = null!;
    private IGrainTimer? _heartbeat;
    private TimeSpan _interval;
    private DateTimeOffset? _lastTick;
    private bool _tickPending;   // the next sync is a heartbeat
    private bool _urgent;        // the next sync carries a woken change: the shard writes it at once
    private bool _heldSync;      // a heartbeat sync is out; the shard may be holding it back
    private long _syncs, _wakeups, _sinceDowngrades, _clientUnanswered, _heartbeats, _syncFailures;
    private int _leasesInFlight;
    private long _leasesStarted; // snapshots asked for: tells a ping answer older than a lease from a current one
    private int _failedSyncs;    // in a row: the retry backs off

    private enum LeaseState { NotOpen, Live, Ended }

    private const ConfigureAwaitOptions KeepContextSuppressThrowing = ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_shardId, _reader) = ReaderLeaseKey.Parse(this.GetPrimaryKeyString());
        _shard = GrainFactory.GetGrain<IShardReaders>(_shardId.Value);
        _sync = new BatchWorkerFromDelegate(SyncOnce);

        // A reader opened before (this grain's silo died, or it was woken): resume from the durable holds, leases
        // included, so no hold moves past a part leased before.
        if (await _shard.ResumeReader(_reader) is { } resumed)
        {
            GoLive(resumed.Status, resumed.SecretHash);
            // The durable heartbeat is already old (this grain's silo died, or it was woken as overdue), and whatever
            // the client returned or asked for since may be lost with the old activation: sync now, urgently, after
            // catching up with the client.
            _urgent = true;
            _sync.Notify();
        }
    }

    /// <summary>Only the reader's shard wakes its task (S8); the client verbs check the reader's secret themselves.</summary>
    public async Task Invoke(IIncomingGrainCallContext call)
    {
        if (Callers.IsCallTo<IReaderLeaseTask>(call))
            await callers.RequireAsync(call, GrainFactory.GetGrain<IShardGrain>(_shardId.Value).GetGrainId(), "the reader's shard");
        await call.Invoke();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_lease != LeaseState.Live) return;
        // Returns and downgrades not yet durable would be forgotten (the next activation starts from the durable
        // holds, which only keeps more): make them durable while there is time.
        if (_returned.Count > 0 || _requestedSince > _durable!.Since)
        {
            _urgent = true;
            await _sync.NotifyAndWaitForWorkToBeServiced().WaitAsync(cancellationToken).ConfigureAwait(KeepContextSuppressThrowing);
        }
        if (_lease == LeaseState.Live) metrics.LiveLeases.Add(-1);
    }

    public async Task<ReaderStatus> Open(ReaderSecret secret, LeaseSettings settings, IReaderClient client)
    {
        var secretHash = secret.Hash();
        if (_lease == LeaseState.Live)
        {
            Authorize(secret); // a retry of its own client's Open, or someone else's
            return _durable!;
        }
        ThrowIfEnded();
        settings = (settings ?? throw new InvalidLeaseSettingsException("Lease settings are required.")).Validated();
        // Without a client to ping, a lease would outlive its reader.
        if (client is null) throw new InvalidInputException("A reader needs its client observer (use ReadHandle.OpenAsync).");
        var durable = await _shard.RegisterReader(_reader, settings, client.GetGrainId(), secretHash);
        GoLive(durable, secretHash);
        return durable;
    }

    public Task DowngradeSince(ReaderSecret secret, Frontier since)
    {
        Authorize(secret);
        if (since < _requestedSince) throw new FrontierRegressionException("The reader's since", _requestedSince, since);
        if (since == _requestedSince) return Task.CompletedTask;

        _requestedSince = since;
        _sinceDowngrades++;
        metrics.SinceDowngrades.Add(1);
        // Wake policy: sync early only when this would advance the shard's since; else ride the heartbeat.
        if (Frontier.Min(since, _durable!.OthersSince) > _durable.ShardSince) RequestSync();
        return Task.CompletedTask;
    }

    public async Task<LeasedSnapshot?> Snapshot(ReaderSecret secret, ulong asOf)
    {
        Authorize(secret);
        if (!_requestedSince.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, _requestedSince);
        LeasedSnapshot? leased;
        _leasesInFlight++;
        _leasesStarted++;
        try
        {
            leased = await CallShard(() => _shard.LeaseSnapshot(_reader, _requestedSince, asOf));
        }
        finally
        {
            _leasesInFlight--;
        }
        ThrowIfNotLive(); // the task may have found the lease gone while this call awaited
        if (leased is not null) _outstanding[leased.LeaseId] = leased.SeqNo;
        return leased;
    }

    public async Task ReturnLease(ReaderSecret secret, ulong leaseId)
    {
        Authorize(secret);
        if (!_outstanding.Remove(leaseId, out var seqNo))
        {
            // Perhaps leased through the previous activation of this grain, still finishing its calls when this one
            // began (Orleans may run both for a moment after a silo dies): the shard knows.
            var resumed = await CallShard(() => _shard.ResumeReader(_reader));
            if (_returned.Contains(leaseId) || resumed is null || !resumed.Status.Leases.TryGetValue(leaseId, out seqNo))
                throw new UnknownLeaseException(leaseId, _reader.Value);
        }
        _returned.Add(leaseId);
        // Wake policy: sync early only when the return may free retained seqnos: it was the lowest lease, the one
        // pinning the hold.
        if (_outstanding.Count == 0 || seqNo < _outstanding.Values.Min()) RequestSync();
    }

    public async Task Expire(ReaderSecret secret)
    {
        Authorize(secret);
        await _shard.ExpireReader(_reader);
        End("it was closed");
    }

    public Task<ReaderLeaseInfo> Inspect() => Task.FromResult(new ReaderLeaseInfo(
        _lease == LeaseState.Live, _requestedSince, _durable, _outstanding.Count, _syncs, _wakeups, _sinceDowngrades,
        GrainContext.Address.SiloAddress?.ToString() ?? "", GrainContext.ActivationId.ToString(), _clientUnanswered, _heartbeats, _syncFailures));

    public Task Wake() => Task.CompletedTask; // activating was the point

    private void GoLive(ReaderStatus durable, string? secretHash)
    {
        _durable = durable;
        _secretHash = secretHash;
        _client = durable.Client is { } client ? GrainFactory.GetGrain<IReaderClient>(client) : null;
        _clientAnsweredAt = time.GetUtcNow();
        _requestedSince = durable.Since;
        foreach (var (leaseId, seqNo) in durable.Leases) _outstanding[leaseId] = seqNo;
        _lease = LeaseState.Live;
        metrics.LiveLeases.Add(1);

        _interval = durable.Settings.EffectiveHeartbeatInterval;
        _heartbeat = this.RegisterGrainTimer(Heartbeat, new GrainTimerCreationOptions
        {
            DueTime = _interval,
            Period = _interval,
            Interleave = true, // ticks run while a call awaits: a busy client never stops the heartbeat
            KeepAlive = true,
        });
        // A live lease keeps its grain: collection would stop the heartbeat. Ended leases let it go.
        this.DelayDeactivation(Timeout.InfiniteTimeSpan);
    }

    /// <summary>A timer tick: asks for one sync that starts after the tick (so it carries everything requested before
    /// it), without waiting for it: the shard may hold a heartbeat back for a while, and ticks keep their rhythm.</summary>
    private Task Heartbeat(CancellationToken cancellation)
    {
        var now = time.GetUtcNow();
        if (_lastTick is { } last) metrics.HeartbeatLateness.Record(Math.Max(0, (now - last - _interval).TotalSeconds));
        _lastTick = now;
        metrics.Heartbeats.Add(1);
        _tickPending = true;
        _sync.Notify();
        return Task.CompletedTask;
    }

    private void RequestSync()
    {
        _wakeups++;
        metrics.Wakeups.Add(1);
        _urgent = true;
        _sync.Notify();
    }

    /// <summary>The background task's one step: heartbeat, since downgrade, lease returns, seqno hold advance — one
    /// shard call, made durable in one write shared with the shard's other readers. A plain heartbeat may be held back
    /// by the shard; it does not block this loop, so a woken (urgent) sync goes out at once beside it.</summary>
    private async Task SyncOnce()
    {
        EndIfLapsed();
        if (_lease != LeaseState.Live) return;
        if (!_urgent && _heldSync) return; // its completion sends the pending tick
        if (!await ClientAnswers()) return; // no heartbeat: the lease lapses unless the client comes back in time
        var returned = _returned.ToImmutableArray();
        var (urgent, tick) = (_urgent, _tickPending);
        (_urgent, _tickPending) = (false, false);
        var outer = Activity.Current;
        var span = StartSyncSpan(urgent, returned.Length);
        var call = CallShard(() => _shard.SyncReader(_reader, _requestedSince, returned, urgent));
        Activity.Current = outer; // the span parents its shard call only: later syncs must not become its children
        if (urgent) await Synced(call, returned, tick, urgent, span);
        else
        {
            _heldSync = true;
            SyncedHeld(call, returned, tick, span).Ignore();
        }
    }

    /// <summary>The sync's span, parent of its shard call; it ends when the sync is answered.</summary>
    private Activity? StartSyncSpan(bool urgent, int returned)
    {
        var span = LeasesTelemetry.Source.StartActivity("leases.sync");
        span?.SetTag("leases.shard", _shardId.Value);
        span?.SetTag("leases.reader", _reader.Value);
        span?.SetTag("leases.urgent", urgent);
        span?.SetTag("leases.returned", returned);
        return span;
    }

    private async Task SyncedHeld(Task<ReaderStatus> call, ImmutableArray<ulong> returned, bool tick, Activity? span)
    {
        try
        {
            await Synced(call, returned, tick, urgent: false, span);
        }
        finally
        {
            _heldSync = false;
            if (_tickPending) _sync.Notify();
        }
    }

    private async Task Synced(Task<ReaderStatus> call, ImmutableArray<ulong> returned, bool tick, bool urgent, Activity? span)
    {
        using var _ = span;
        var started = time.GetTimestamp();
        try
        {
            var status = await call;
            metrics.SyncDuration.Record(time.GetElapsedTime(started).TotalSeconds);
            // A held heartbeat and an urgent sync can answer from one write: keep the later state.
            if (status.ShardSeqNo >= _durable!.ShardSeqNo) _durable = status;
            _returned.ExceptWith(returned);
            _failedSyncs = 0;
            _syncs++;
            if (tick) _heartbeats++;
            metrics.Syncs.Add(1);
            metrics.SeqNoLag.Record((long)(status.ShardSeqNo - status.SeqNoHold));
        }
        catch (Exception error) when (error is ShardStorageException or TimeoutException or OrleansException)
        {
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            _urgent |= urgent;
            // Storage or the shard is unreachable (its silo died, say): nothing was lost. Tried again soon rather
            // than a heartbeat later, so a grain just reactivated after a crash syncs well inside its lease.
            _syncFailures++;
            LogSyncFailed(logger, error, _shardId.Value, _reader.Value);
            RetryAfterFailure(tick).Ignore();
        }
        catch (LeaseExpiredException)
        {
            // Ended already: CallShard fenced this grain.
        }
        catch (ShardException error)
        {
            // A refusal of this one sync: logged, and the next heartbeat tries again. It never ends the lease by itself.
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            _urgent |= urgent;
            LogSyncRefused(logger, error, _shardId.Value, _reader.Value);
        }
    }

    /// <summary>Asks for the failed sync again after 1 s, backing off (doubling) to one heartbeat interval.</summary>
    private async Task RetryAfterFailure(bool tick)
    {
        var wait = TimeSpan.FromSeconds(Math.Min(_interval.TotalSeconds, Math.Pow(2, Math.Min(_failedSyncs++, 16))));
        await Task.Delay(wait, time);
        _tickPending |= tick;
        _sync.Notify();
    }

    /// <summary>Pings the client. A client that is gone (dropped by the cluster, or its process dead) gets no more
    /// heartbeats. A ping that only timed out (a busy silo or client) does not stop the heartbeat unless the client
    /// has been silent for half a lease: an overloaded cluster must not drop live readers.</summary>
    private async Task<bool> ClientAnswers()
    {
        if (_client is null) return false; // nobody to vouch for it: a reader stored without a client lapses
        try
        {
            var (leasesStarted, known) = (_leasesStarted, KnownLeases());
            var holds = await _client.Ping();
            if (holds.SecretHash != _secretHash)
            {
                LogClientGone(logger, _shardId.Value, _reader.Value, "the observer belongs to another reader");
                return false;
            }
            CatchUpWith(holds, known, current: leasesStarted == _leasesStarted);
            _clientAnsweredAt = time.GetUtcNow();
            return true;
        }
        catch (Exception error)
        {
            _clientUnanswered++;
            var patient = error is TimeoutException && time.GetUtcNow() - _clientAnsweredAt < _durable!.Settings.LeaseDuration / 2;
            if (!patient) LogClientGone(logger, _shardId.Value, _reader.Value, error.Message);
            return patient;
        }
    }

    /// <summary>The client is the authority on what it holds. Every lease the shard or this grain had before the ping
    /// (<paramref name="known"/>) that the client does not hold is returned — given back to an activation that died
    /// before making the return durable, or leased by an attempt whose answer never reached anyone (a timeout, a write
    /// in doubt), which would otherwise pin the seqno hold until close — and the client's latest since is asked for.
    /// Not while a snapshot is being leased (its lease id is not known to the client yet), nor from an answer that is
    /// not <paramref name="current"/>: a snapshot asked for after the ping went out may predate the answer's arrival
    /// (answers and calls travel apart, e.g. through different gateways while a silo stops).</summary>
    private void CatchUpWith(ClientHolds holds, IReadOnlyCollection<ulong> known, bool current)
    {
        if (holds.Since > _requestedSince) _requestedSince = holds.Since;
        if (!current || holds.Leasing || _leasesInFlight > 0 || holds.Leases.IsDefault) return;
        foreach (var leaseId in known.Except(holds.Leases).Where(l => !_returned.Contains(l)))
        {
            _outstanding.Remove(leaseId);
            _returned.Add(leaseId);
        }
    }

    private List<ulong> KnownLeases() => [.. _outstanding.Keys.Concat(_durable!.Leases.Keys).Distinct()];

    /// <summary>Calls the shard on the reader's behalf; if the shard says the lease is gone, fences this grain.</summary>
    private async Task<T> CallShard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (LeaseExpiredException error)
        {
            if (_lease == LeaseState.Live) End(error.Message);
            throw;
        }
    }

    private void End(string because)
    {
        if (_lease == LeaseState.Live) metrics.LiveLeases.Add(-1);
        _lease = LeaseState.Ended;
        _endedBecause = because;
        _heartbeat?.Dispose();
        _outstanding.Clear();
        _returned.Clear();
        this.DelayDeactivation(TimeSpan.Zero);
        LogEnded(logger, _shardId.Value, _reader.Value, because);
    }

    /// <summary>Refuses the call unless the lease is live and <paramref name="secret"/> is the one it was opened with.</summary>
    private void Authorize(ReaderSecret secret)
    {
        ThrowIfNotLive();
        if (_secretHash is null || !secret.Matches(_secretHash))
            throw new AccessDeniedException($"Reader '{_shardId.Value}/{_reader.Value}' acts only for the client that opened it.");
    }

    private void ThrowIfNotLive()
    {
        EndIfLapsed();
        if (_lease != LeaseState.Live) throw new LeaseExpiredException(_reader.Value, _endedBecause);
    }

    /// <summary>A lease whose last durable heartbeat is older than its duration is over, whether or not the shard
    /// has swept it yet.</summary>
    private void EndIfLapsed()
    {
        if (_lease == LeaseState.Live && time.GetUtcNow() > _durable!.LastHeartbeat + _durable.Settings.LeaseDuration)
            End($"no heartbeat since {_durable.LastHeartbeat:O}, lease {_durable.Settings.LeaseDuration}");
    }

    private void ThrowIfEnded()
    {
        if (_lease == LeaseState.Ended) throw new LeaseExpiredException(_reader.Value, _endedBecause);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reader {Shard}/{Reader}: sync failed; retrying soon")]
    private static partial void LogSyncFailed(ILogger logger, Exception error, string shard, string reader);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reader {Shard}/{Reader}: the shard refused a sync; retrying at the next heartbeat")]
    private static partial void LogSyncRefused(ILogger logger, Exception error, string shard, string reader);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reader {Shard}/{Reader}: the client did not answer ({Error}); no heartbeat")]
    private static partial void LogClientGone(ILogger logger, string shard, string reader, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reader {Shard}/{Reader}: lease ended because {Because}")]
    private static partial void LogEnded(ILogger logger, string shard, string reader, string because);
}
