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
    private LeaseTask _task = null!;   // the shared hold state and the task's rules
    private IReaderClient? _client;    // pinged before each heartbeat

    private BatchWorkerFromDelegate _sync = null!;
    private IGrainTimer? _heartbeat;
    private DateTimeOffset? _lastTick;

    private const ConfigureAwaitOptions KeepContextSuppressThrowing = ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_shardId, _reader) = ReaderLeaseKey.Parse(this.GetPrimaryKeyString());
        _shard = GrainFactory.GetGrain<IShardReaders>(_shardId.Value);
        _task = new LeaseTask(_shardId, _reader);
        _sync = new BatchWorkerFromDelegate(SyncOnce);

        // A reader opened before (this grain's silo died, or it was woken): resume from the durable holds, leases
        // included, so no hold moves past a part leased before.
        if (await _shard.ResumeReader(_reader) is { } resumed)
        {
            GoLive(resumed.Status, resumed.SecretHash);
            // The durable heartbeat is already old (this grain's silo died, or it was woken as overdue), and whatever
            // the client returned or asked for since may be lost with the old activation: sync now, urgently, after
            // catching up with the client.
            _task.SyncUrgently();
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
        if (!_task.IsLive) return;
        // Returns and downgrades not yet durable would be forgotten (the next activation starts from the durable
        // holds, which only keeps more): make them durable while there is time.
        if (_task.HasChangesNotDurable)
        {
            _task.SyncUrgently();
            await _sync.NotifyAndWaitForWorkToBeServiced().WaitAsync(cancellationToken).ConfigureAwait(KeepContextSuppressThrowing);
        }
        if (_task.IsLive) metrics.LiveLeases.Add(-1);
    }

    public async Task<ReaderStatus> Open(ReaderSecret secret, LeaseSettings settings, IReaderClient client)
    {
        var secretHash = secret.Hash();
        if (_task.IsLive)
        {
            Authorize(secret); // a retry of its own client's Open, or someone else's
            return _task.Durable!;
        }
        _task.ThrowIfEnded();
        settings = LeaseSettings.Validated(settings);
        // Without a client to ping, a lease would outlive its reader.
        if (client is null) throw new InvalidInputException("A reader needs its client observer (use ReadHandle.OpenAsync).");
        var durable = await _shard.RegisterReader(_reader, settings, client.GetGrainId(), secretHash);
        GoLive(durable, secretHash);
        return durable;
    }

    public Task DowngradeSince(ReaderSecret secret, Frontier since)
    {
        Authorize(secret);
        var need = _task.DowngradeSince(since);
        if (need != SyncNeed.None) metrics.SinceDowngrades.Add(1);
        Woken(need);
        return Task.CompletedTask;
    }

    public Task<LeasedSnapshot?> Snapshot(ReaderSecret secret, ulong asOf) =>
        Lease(secret, asOf, since => _shard.LeaseSnapshot(_reader, since, asOf));

    public Task<LeasedSnapshot?> LeaseAfter(ReaderSecret secret, ulong after) =>
        Lease(secret, after, since => _shard.LeaseAfter(_reader, since, after));

    /// <summary>Leases what <paramref name="lease"/> asks the shard for, reads from <paramref name="from"/> on.</summary>
    private async Task<LeasedSnapshot?> Lease(ReaderSecret secret, ulong from, Func<Frontier, Task<LeasedSnapshot?>> lease)
    {
        Authorize(secret);
        var since = _task.LeasingStarted(from);
        LeasedSnapshot? leased;
        try
        {
            leased = await CallShard(() => lease(since));
        }
        finally
        {
            _task.LeasingAnswered();
        }
        ThrowIfNotLive(); // the task may have found the lease gone while this call awaited
        if (leased is not null) _task.Leased(leased);
        return leased;
    }

    public async Task ReturnLease(ReaderSecret secret, ulong leaseId)
    {
        Authorize(secret);
        if (!_task.TryReturn(leaseId, out var need))
        {
            // Perhaps leased through the previous activation of this grain, still finishing its calls when this one
            // began (Orleans may run both for a moment after a silo dies): the shard knows.
            var resumed = await CallShard(() => _shard.ResumeReader(_reader));
            need = _task.ReturnKnownToShard(leaseId, resumed);
        }
        Woken(need);
    }

    public async Task Expire(ReaderSecret secret)
    {
        Authorize(secret);
        await _shard.ExpireReader(_reader);
        End("it was closed");
    }

    public Task<ReaderLeaseInfo> Inspect() => Task.FromResult(new ReaderLeaseInfo(
        _task.IsLive, _task.RequestedSince, _task.Durable, _task.OutstandingLeases, _task.Syncs, _task.Wakeups, _task.SinceDowngrades,
        GrainContext.Address.SiloAddress?.ToString() ?? "", GrainContext.ActivationId.ToString(), _task.ClientUnanswered, _task.Heartbeats, _task.SyncFailures));

    public Task Wake() => Task.CompletedTask; // activating was the point

    private void GoLive(ReaderStatus durable, string? secretHash)
    {
        _task.GoLive(durable, secretHash, time.GetUtcNow());
        _client = durable.Client is { } client ? GrainFactory.GetGrain<IReaderClient>(client) : null;
        metrics.LiveLeases.Add(1);

        _heartbeat = this.RegisterGrainTimer(Heartbeat, new GrainTimerCreationOptions
        {
            DueTime = _task.HeartbeatInterval,
            Period = _task.HeartbeatInterval,
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
        if (_lastTick is { } last) metrics.HeartbeatLateness.Record(Math.Max(0, (now - last - _task.HeartbeatInterval).TotalSeconds));
        _lastTick = now;
        metrics.Heartbeats.Add(1);
        _task.Tick();
        _sync.Notify();
        return Task.CompletedTask;
    }

    /// <summary>A change that woke the task (<see cref="SyncNeed.Now"/>) syncs at once; any other rides the heartbeat.</summary>
    private void Woken(SyncNeed need)
    {
        if (need != SyncNeed.Now) return;
        metrics.Wakeups.Add(1);
        _sync.Notify();
    }

    /// <summary>The background task's one step: heartbeat, since downgrade, lease returns, seqno hold advance — one
    /// shard call, made durable in one write shared with the shard's other readers. A plain heartbeat may be held back
    /// by the shard; it does not block this loop, so a woken (urgent) sync goes out at once beside it.</summary>
    private async Task SyncOnce()
    {
        EndIfLapsed();
        if (!_task.IsLive) return;
        if (_task.NextSyncWaitsForHeldOne) return; // its completion sends the pending tick
        if (!await ClientAnswers()) return; // no heartbeat: the lease lapses unless the client comes back in time
        var sync = _task.TakeSync();
        var outer = Activity.Current;
        var span = StartSyncSpan(sync);
        Task<ReaderStatus> call;
        try
        {
            call = _shard.SyncReader(_reader, sync.Since, sync.Returned, sync.Urgent);
        }
        catch (Exception error)
        {
            call = Task.FromException<ReaderStatus>(error); // answered in Synced like any failure, so a held sync is let go
        }
        Activity.Current = outer; // the span parents its shard call only: later syncs must not become its children
        var synced = Synced(call, sync, span);
        if (sync.Urgent) await synced;
        else synced.Ignore();
    }

    /// <summary>The sync's span, parent of its shard call; it ends when the sync is answered.</summary>
    private Activity? StartSyncSpan(LeaseSync sync)
    {
        var span = LeasesTelemetry.Source.StartActivity("leases.sync");
        span?.SetTag("leases.shard", _shardId.Value);
        span?.SetTag("leases.reader", _reader.Value);
        span?.SetTag("leases.urgent", sync.Urgent);
        span?.SetTag("leases.returned", sync.Returned.Length);
        return span;
    }

    /// <summary>Takes a sync's answer. A plain heartbeat's sync is held by the shard for up to an interval, so most
    /// lease grains have one out at any time: one state machine per sync, no wrappers.</summary>
    private async Task Synced(Task<ReaderStatus> call, LeaseSync sync, Activity? span)
    {
        using var _ = span;
        var started = time.GetTimestamp();
        try
        {
            var status = await call;
            metrics.SyncDuration.Record(time.GetElapsedTime(started).TotalSeconds);
            _task.Synced(sync, status);
            metrics.Syncs.Add(1);
            metrics.SeqNoLag.Record((long)(status.ShardSeqNo - status.SeqNoHold));
        }
        catch (Exception error) when (error is ShardStorageException or TimeoutException or OrleansException)
        {
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            // Storage or the shard is unreachable (its silo died, say): nothing was lost. Tried again soon rather
            // than a heartbeat later, so a grain just reactivated after a crash syncs well inside its lease.
            var wait = _task.SyncFailed(sync);
            LogSyncFailed(logger, error, _shardId.Value, _reader.Value);
            RetryAfter(wait, sync).Ignore();
        }
        catch (LeaseExpiredException error)
        {
            // The shard no longer holds the lease: fence this grain, as CallShard does.
            if (_task.IsLive) End(error.Message);
        }
        catch (ShardException error)
        {
            // A refusal of this one sync: logged, and the next heartbeat tries again. It never ends the lease by itself.
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            _task.SyncRefused(sync);
            LogSyncRefused(logger, error, _shardId.Value, _reader.Value);
        }
        finally
        {
            if (!sync.Urgent && _task.HeldSyncAnswered()) _sync.Notify(); // a tick that came while this one was held
        }
    }

    private async Task RetryAfter(TimeSpan wait, LeaseSync failed)
    {
        await Task.Delay(wait, time);
        _task.RetryDue(failed);
        _sync.Notify();
    }

    /// <summary>Pings the client. A client that is gone (dropped by the cluster, or its process dead) gets no more
    /// heartbeats; one that only timed out is given the grace <see cref="LeaseTask.ClientSilent"/> allows.</summary>
    private async Task<bool> ClientAnswers()
    {
        if (_client is null) return false; // nobody to vouch for it: a reader stored without a client lapses
        try
        {
            var ping = _task.PingClient();
            var holds = await _client.Ping();
            if (_task.ClientAnswered(ping, holds, time.GetUtcNow())) return true;
            LogClientGone(logger, _shardId.Value, _reader.Value, "the observer belongs to another reader");
            return false;
        }
        catch (Exception error)
        {
            var patient = _task.ClientSilent(error is TimeoutException, time.GetUtcNow());
            if (!patient) LogClientGone(logger, _shardId.Value, _reader.Value, error.Message);
            return patient;
        }
    }

    /// <summary>Calls the shard on the reader's behalf; if the shard says the lease is gone, fences this grain.</summary>
    private async Task<T> CallShard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (LeaseExpiredException error)
        {
            if (_task.IsLive) End(error.Message);
            throw;
        }
    }

    private void End(string because)
    {
        if (_task.End(because)) metrics.LiveLeases.Add(-1);
        _heartbeat?.Dispose();
        this.DelayDeactivation(TimeSpan.Zero);
        LogEnded(logger, _shardId.Value, _reader.Value, because);
    }

    /// <summary>Refuses the call unless the lease is live and <paramref name="secret"/> is the one it was opened with.</summary>
    private void Authorize(ReaderSecret secret)
    {
        EndIfLapsed();
        _task.Authorize(secret);
    }

    private void ThrowIfNotLive()
    {
        EndIfLapsed();
        _task.ThrowIfNotLive();
    }

    private void EndIfLapsed()
    {
        if (_task.LapsedAt(time.GetUtcNow()) is { } because) End(because);
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
