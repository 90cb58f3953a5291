using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Leases.Hosting;
using Orleans.Runtime;

namespace Orleans.Leases.Readers;

/// <summary>
/// One leased reader (after Persist's read handle and its lease task). Client calls change the shared hold state
/// in memory and return; the background task — a grain timer — heartbeats the lease and makes every requested
/// downgrade durable in one shard call per sync. Waiting (for a shard's upper) never happens in this grain's turn,
/// and the timer interleaves with calls, so a busy or blocked client never stops the heartbeat.
/// </summary>
internal sealed partial class ReaderLeaseGrain(TimeProvider time, ServiceMetrics metrics, ILogger<ReaderLeaseGrain> logger)
    : Grain, IReaderLeaseGrain
{
    private ShardId _shardId;
    private ReaderId _reader;
    private IShardGrain _shard = null!;

    // The shared hold state.
    private LeaseState _lease = LeaseState.NotOpen;
    private string _endedBecause = "the shard holds no such reader (closed, lapsed, or never opened)";
    private Frontier _requestedSince;
    private readonly Dictionary<ulong, ulong> _outstanding = [];   // leases the client holds: id → seqno
    private readonly HashSet<ulong> _returned = [];                // given back, not yet durable
    private ReaderStatus? _durable;                                // the shard's answer to the last sync
    private IReaderClient? _client;                                // pinged before each heartbeat

    private BatchWorkerFromDelegate _sync = null!;
    private IGrainTimer? _heartbeat;
    private long _syncs, _wakeups, _sinceDowngrades, _clientUnanswered, _heartbeats;
    private int _leasesInFlight;

    private enum LeaseState { NotOpen, Live, Ended }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_shardId, _reader) = ReaderLeaseKey.Parse(this.GetPrimaryKeyString());
        _shard = GrainFactory.GetGrain<IShardGrain>(_shardId.Value);
        _sync = new BatchWorkerFromDelegate(SyncOnce);

        // A reader opened before (this grain's silo died, or it was woken): resume from the durable holds, leases
        // included, so no hold moves past a part leased before.
        if (await _shard.ReaderStatus(_reader) is { } durable) GoLive(durable);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_lease == LeaseState.Live) metrics.LiveLeases.Add(-1);
        return Task.CompletedTask;
    }

    public async Task<ReaderStatus> Open(LeaseSettings settings, IReaderClient client)
    {
        settings = (settings ?? throw new InvalidLeaseSettingsException("Lease settings are required.")).Validated();
        // Without a client to ping, a lease would outlive its reader.
        if (client is null) throw new InvalidInputException("A reader needs its client observer (use ReadHandle.OpenAsync).");
        if (_lease == LeaseState.Live) return _durable!;
        ThrowIfEnded();
        var durable = await _shard.RegisterReader(_reader, settings, client.GetGrainId());
        GoLive(durable);
        return durable;
    }

    public Task DowngradeSince(Frontier since)
    {
        ThrowIfNotLive();
        if (since < _requestedSince) throw new FrontierRegressionException("The reader's since", _requestedSince, since);
        if (since == _requestedSince) return Task.CompletedTask;

        _requestedSince = since;
        _sinceDowngrades++;
        metrics.SinceDowngrades.Add(1);
        // Wake policy: sync early only when this would advance the shard's since; else ride the heartbeat.
        if (Frontier.Min(since, _durable!.OthersSince) > _durable.ShardSince) RequestSync();
        return Task.CompletedTask;
    }

    public async Task<LeasedSnapshot?> Snapshot(ulong asOf)
    {
        ThrowIfNotLive();
        if (!_requestedSince.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, _requestedSince);
        LeasedSnapshot? leased;
        _leasesInFlight++;
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

    public Task ReturnLease(ulong leaseId)
    {
        ThrowIfNotLive();
        if (!_outstanding.Remove(leaseId, out var seqNo)) throw new UnknownLeaseException(leaseId, _reader.Value);
        _returned.Add(leaseId);
        // Wake policy: sync early only when the return may free retained seqnos: it was the lowest lease, the one
        // pinning the hold.
        if (_outstanding.Count == 0 || seqNo < _outstanding.Values.Min()) RequestSync();
        return Task.CompletedTask;
    }

    public async Task Expire()
    {
        ThrowIfNotLive();
        await _sync.WaitForCurrentWorkToBeServiced();
        await _shard.ExpireReader(_reader);
        End("it was closed");
    }

    public Task<ReaderLeaseInfo> Inspect() => Task.FromResult(new ReaderLeaseInfo(
        _lease == LeaseState.Live, _requestedSince, _durable, _outstanding.Count, _syncs, _wakeups, _sinceDowngrades,
        GrainContext.Address.SiloAddress?.ToString() ?? "", GrainContext.ActivationId.ToString(), _clientUnanswered, _heartbeats));

    public Task Wake() => Task.CompletedTask; // activating was the point

    private void GoLive(ReaderStatus durable)
    {
        _durable = durable;
        _client = durable.Client is { } client ? GrainFactory.GetGrain<IReaderClient>(client) : null;
        _requestedSince = durable.Since;
        foreach (var (leaseId, seqNo) in durable.Leases) _outstanding[leaseId] = seqNo;
        _lease = LeaseState.Live;
        metrics.LiveLeases.Add(1);

        var interval = durable.Settings.EffectiveHeartbeatInterval;
        _heartbeat = this.RegisterGrainTimer(Heartbeat, new GrainTimerCreationOptions
        {
            DueTime = interval,
            Period = interval,
            Interleave = true, // ticks run while a call awaits: a busy client never stops the heartbeat
            KeepAlive = true,
        });
        // A live lease keeps its grain: collection would stop the heartbeat. Ended leases let it go.
        this.DelayDeactivation(Timeout.InfiniteTimeSpan);
    }

    /// <summary>A timer tick: one sync that starts after the tick (so it carries everything requested before it).</summary>
    private async Task Heartbeat(CancellationToken cancellation)
    {
        await _sync.NotifyAndWaitForWorkToBeServiced();
        _heartbeats++;
    }

    private void RequestSync()
    {
        _wakeups++;
        metrics.Wakeups.Add(1);
        _sync.Notify();
    }

    /// <summary>The background task's one step: heartbeat, since downgrade, lease returns, seqno hold advance — one
    /// shard call, made durable in one write (shared with other readers' syncs by the shard's group commit).</summary>
    private async Task SyncOnce()
    {
        EndIfLapsed();
        if (_lease != LeaseState.Live) return;
        if (!await ClientAnswers()) return; // no heartbeat: the lease lapses unless the client comes back in time
        var returned = _returned.ToImmutableArray();
        try
        {
            _durable = await CallShard(() => _shard.SyncReader(_reader, _requestedSince, returned));
            _returned.ExceptWith(returned);
            ReturnLeasesNobodyHolds();
            _syncs++;
            metrics.Syncs.Add(1);
        }
        catch (Exception error) when (error is ShardStorageException or TimeoutException or OrleansException)
        {
            // Storage or the shard is unreachable: nothing was lost, the next heartbeat tries again, and the lease
            // survives if it succeeds within the lease duration.
            LogSyncFailed(logger, error, _shardId.Value, _reader.Value);
        }
        catch (LeaseExpiredException)
        {
            // Ended already: CallShard fenced this grain.
        }
    }

    private async Task<bool> ClientAnswers()
    {
        if (_client is null) return true;
        try
        {
            await _client.Ping();
            return true;
        }
        catch (Exception error)
        {
            // Whatever the failure (gone, dropped, timed out, expired in transit), the client did not answer.
            _clientUnanswered++;
            LogClientGone(logger, _shardId.Value, _reader.Value, error.Message);
            return false;
        }
    }

    /// <summary>A lease the shard recorded but whose answer never reached the client (a timeout, a write in doubt)
    /// would pin the seqno hold forever: nobody can return it. Give such leases back at the next sync.</summary>
    private void ReturnLeasesNobodyHolds()
    {
        if (_leasesInFlight > 0) return; // its answer may still be on its way
        foreach (var leaseId in _durable!.Leases.Keys)
            if (!_outstanding.ContainsKey(leaseId)) _returned.Add(leaseId);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reader {Shard}/{Reader}: sync failed; retrying at the next heartbeat")]
    private static partial void LogSyncFailed(ILogger logger, Exception error, string shard, string reader);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reader {Shard}/{Reader}: the client did not answer ({Error}); no heartbeat")]
    private static partial void LogClientGone(ILogger logger, string shard, string reader, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reader {Shard}/{Reader}: lease ended because {Because}")]
    private static partial void LogEnded(ILogger logger, string shard, string reader, string because);
}
