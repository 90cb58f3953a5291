using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;

namespace Orleans.Leases.ClientApp;

/// <summary>How the chaos scenario loads the cluster while the operations run.</summary>
public sealed record ChaosSettings
{
    /// <summary>Readers that keep a leased snapshot outstanding and fetch its parts again and again.</summary>
    public int HoldingReaders { get; init; } = 3;

    /// <summary>Readers blocked in snapshots as of <see cref="BlockAhead"/> appends beyond upper.</summary>
    public int BlockedReaders { get; init; } = 2;

    public LeaseSettings Lease { get; init; } = new()
    {
        LeaseDuration = TimeSpan.FromSeconds(20), HeartbeatInterval = TimeSpan.FromSeconds(2), Purpose = "chaos",
    };

    public ulong BlockAhead { get; init; } = 30;

    /// <summary>How long a holding reader keeps one leased snapshot, fetching it every <see cref="FetchEvery"/>.</summary>
    public TimeSpan HoldFor { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan FetchEvery { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan AppendPause { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan CheckEvery { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Load before the operations start, so that leases are outstanding and snapshots blocked.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Load after the operations end, so that a lease the operations broke has time to show it; at least
    /// <see cref="ReturnPatience"/>, so that a return lost to a crash shows too.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a returned lease may still pin the durable hold: it rides the next heartbeat (one interval),
    /// which the shard may hold back for up to one more interval to share a write, and a second for a loaded machine.
    /// Counted from the return, or from the lease grains' recovery after a crash.</summary>
    public TimeSpan ReturnPatience => Lease.EffectiveHeartbeatInterval * 2 + TimeSpan.FromSeconds(2);
}

/// <summary>What the chaos scenario saw. Every count up to <see cref="UnexpectedErrors"/> must be 0.</summary>
public sealed record ChaosReport(
    string Operation,
    string Shard,
    long LeasesLost,
    long ReturnsLost,
    long SinceHoldsMovedBackwards,
    long SeqNoHoldsMovedBackwards,
    long SeqNoHoldsReleasedPastLeasedPart,
    long LeasedPartsUnfetchable,
    long LeasedReadsWrong,
    long AppendsLost,
    long AppendsDoubled,
    long UnexpectedErrors,
    long AppendsDuringOperations,
    long AppendsTotal,
    long LeasedSnapshots,
    long BlockedSnapshots,
    long HoldChecks,
    double OperationSeconds,
    double LeaseSeconds,
    double HeartbeatSeconds,
    double LongestAppendGapSeconds,
    int Crashes,
    double? ShardServedAgainSeconds,
    double? LeaseGrainsServedAgainSeconds,
    ImmutableArray<string> Errors)
{
    public bool Passed => LeasesLost == 0 && ReturnsLost == 0 && SinceHoldsMovedBackwards == 0 && SeqNoHoldsMovedBackwards == 0 &&
                          SeqNoHoldsReleasedPastLeasedPart == 0 && LeasedPartsUnfetchable == 0 && LeasedReadsWrong == 0 &&
                          AppendsLost == 0 && AppendsDoubled == 0 && UnexpectedErrors == 0 && AppendsDuringOperations > 0;

    public IEnumerable<string> Lines()
    {
        yield return $"{Operation} on shard {Shard}: {(Passed ? "PASSED" : "FAILED")} ({OperationSeconds:F1} s of operations)";
        yield return $"  lease {LeaseSeconds} s, heartbeat {HeartbeatSeconds} s; longest append gap {LongestAppendGapSeconds:F1} s; " +
                     $"{Crashes} crash(es): shard served again after {ShardServedAgainSeconds?.ToString("F1") ?? "-"} s, lease grains after {LeaseGrainsServedAgainSeconds?.ToString("F1") ?? "-"} s (longest)";
        yield return $"  leases lost {LeasesLost}; returns lost {ReturnsLost}; since holds moved backwards {SinceHoldsMovedBackwards}; seqno holds moved backwards {SeqNoHoldsMovedBackwards}";
        yield return $"  seqno holds released past an outstanding leased part {SeqNoHoldsReleasedPastLeasedPart}; leased parts unfetchable {LeasedPartsUnfetchable}; leased reads wrong {LeasedReadsWrong}";
        yield return $"  appends lost {AppendsLost}; appends doubled {AppendsDoubled}; unexpected errors {UnexpectedErrors}";
        yield return $"  appends during the operations {AppendsDuringOperations} (of {AppendsTotal}); leased snapshots {LeasedSnapshots}; blocked snapshots {BlockedSnapshots}; hold checks {HoldChecks}";
        foreach (var error in Errors) yield return $"  error: {error}";
    }
}

/// <summary>
/// Leases surviving cluster operations: while <c>operations</c> restart or kill silos, leased readers hold snapshots
/// (fetching their parts again and again), others wait in snapshots beyond upper, a writer appends with idempotency
/// keys, and a checker polls every reader's durable holds. Afterwards the readers close and one exact read checks
/// every acknowledged append. Used by the cluster tests and by <c>ClientApp chaos</c>.
/// </summary>
public sealed class ChaosScenario
{
    private const int ErrorsKept = 10;

    private readonly IGrainFactory _grains;
    private readonly ChaosSettings _settings;
    private readonly Action<string> _progress;
    private readonly ShardClient _shards;
    private readonly ShardId _shard = new($"chaos-{Guid.NewGuid():N}");
    private readonly IShardGrain _shardGrain;
    private readonly List<Reader> _readers = [];
    private readonly ConcurrentQueue<string> _errors = new();

    private long _upper; // appends acknowledged: update n (key w-n, time n) for every n < _upper
    private volatile bool _operating;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _timing = new();
    private TimeSpan? _lastAppend;                 // while measuring gaps: the latest acknowledgement (or the start)
    private TimeSpan _longestGap;
    private int _crashes;
    private TimeSpan? _crashAt;                    // the latest crash the shard has not served since
    private TimeSpan _keepersCrashAt;              // the latest crash of lease grains, and those not back yet
    private HashSet<ReaderId> _keepersPending = [];
    private TimeSpan _keepersBackAt;               // when the latest crash's lease grains all synced again
    private TimeSpan? _shardBack, _keepersBack;    // the longest recoveries seen
    private long _returnsLost;
    private long _leasesLost, _sinceBackwards, _seqNoBackwards, _releasedPast, _unfetchable, _readsWrong, _unexpected;
    private long _appendsDuring, _leasedSnapshots, _blockedSnapshots, _holdChecks;

    public ChaosScenario(IGrainFactory grains, ChaosSettings settings, Action<string> progress)
    {
        _grains = grains;
        _settings = settings;
        _progress = progress;
        _shards = new ShardClient(grains);
        _shardGrain = grains.GetGrain<IShardGrain>(_shard.Value);
    }

    public ShardId Shard => _shard;

    private TimeSpan Settle => _settings.Settle > _settings.ReturnPatience ? _settings.Settle : _settings.ReturnPatience + TimeSpan.FromSeconds(1);

    /// <summary>The readers' lease grains (their keepers), to find the silos they live on.</summary>
    public IEnumerable<(ReaderId Reader, IReaderLeaseGrain Grain)> LeaseGrains =>
        _readers.Select(r => (r.Handle.Reader, _grains.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(_shard, r.Handle.Reader))));

    /// <summary>Waits until the shard and the lease grains serve again after the latest <see cref="Crashed"/> (an append
    /// landed; every keeper of the dead silo synced), for at most a lease duration.</summary>
    public async Task ServedAgainAsync(CancellationToken cancellation)
    {
        var patience = Stopwatch.StartNew();
        while (patience.Elapsed < _settings.Lease.LeaseDuration)
        {
            lock (_timing)
                if (_crashAt is null && _keepersPending.Count == 0) return;
            await Task.Delay(100, cancellation);
        }
    }

    /// <summary>Marks a silo crash, just after it: from now the scenario times how long until an append lands again and
    /// until the lease grains of <paramref name="keptThere"/> (the readers whose lease grain lived on that silo) have
    /// synced with the shard again.</summary>
    public void Crashed(IEnumerable<ReaderId> keptThere)
    {
        var pending = keptThere.ToHashSet();
        lock (_timing)
        {
            _crashes++;
            _crashAt = _clock.Elapsed;
            foreach (var reader in _readers.Where(r => pending.Contains(r.Handle.Reader))) reader.HeartbeatAtCrash = null;
            if (pending.Count == 0) return;
            _keepersCrashAt = _clock.Elapsed;
            _keepersPending = pending;
        }
    }

    /// <summary>Runs the scenario around <paramref name="operations"/> and reports what it saw.</summary>
    public async Task<ChaosReport> RunAsync(string operation, Func<CancellationToken, Task> operations,
        CancellationToken cancellation)
    {
        _progress($"chaos {operation} on shard {_shard}: {_settings.HoldingReaders} holding readers, {_settings.BlockedReaders} blocked readers, " +
                  $"lease {_settings.Lease.LeaseDuration.TotalSeconds} s, heartbeat {_settings.Lease.EffectiveHeartbeatInterval.TotalSeconds} s");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var writing = WriteAsync(stop.Token);
        for (var i = 0; i < _settings.HoldingReaders + _settings.BlockedReaders; i++)
            _readers.Add(new Reader(await _shards.OpenReaderAsync(_shard, _settings.Lease), blocked: i >= _settings.HoldingReaders));
        var reading = _readers.Select(r => r.Blocked ? BlockAsync(r, stop.Token) : HoldAsync(r, stop.Token)).ToList();
        var checking = CheckAsync(stop.Token);

        await Task.Delay(_settings.Warmup, cancellation);
        _progress($"operations start: {Volatile.Read(ref _upper)} appends so far, {_readers.Sum(r => r.Outstanding.Count)} leases outstanding");
        var clock = Stopwatch.StartNew();
        lock (_timing) _lastAppend = _clock.Elapsed;
        _operating = true;
        try
        {
            await operations(cancellation);
            // They end when the shard serves again: the writer lands an append (a crashed shard's silo may have
            // left it down until now).
            var landed = Interlocked.Read(ref _appendsDuring);
            var recovery = Stopwatch.StartNew();
            while (Interlocked.Read(ref _appendsDuring) == landed && recovery.Elapsed < TimeSpan.FromSeconds(60))
                await Task.Delay(100, cancellation);
        }
        finally
        {
            _operating = false;
        }
        var operationSeconds = clock.Elapsed.TotalSeconds;
        _progress($"operations done in {operationSeconds:F1} s; {Interlocked.Read(ref _appendsDuring)} appends during them; settling {Settle.TotalSeconds} s");
        await Task.Delay(Settle, cancellation);

        lock (_timing) _lastAppend = null; // appends stop on purpose from here
        stop.Cancel();
        await writing;
        await Task.WhenAll(reading);
        await checking;
        await CloseReadersAsync();
        var (lost, doubled) = await FinalReadAsync();
        lock (_timing)
            if (_keepersPending.Count > 0) Record($"{_keepersPending.Count} lease grain(s) never synced again after the crash");
        return new ChaosReport(operation, _shard.Value, _leasesLost, _returnsLost, _sinceBackwards, _seqNoBackwards, _releasedPast,
            _unfetchable, _readsWrong, lost, doubled, _unexpected, _appendsDuring, _upper, _leasedSnapshots,
            _blockedSnapshots, _holdChecks, Math.Round(operationSeconds, 1), _settings.Lease.LeaseDuration.TotalSeconds,
            _settings.Lease.EffectiveHeartbeatInterval.TotalSeconds, Seconds(_longestGap), _crashes,
            _shardBack is { } shard ? Seconds(shard) : null, _keepersBack is { } keepers ? Seconds(keepers) : null, [.. _errors]);
    }

    /// <summary>Appends update n as the batch [n, n+1) under key chaos-n until acknowledged; the key makes every
    /// retry safe. Stops only between appends, so nothing is left in doubt.</summary>
    private async Task WriteAsync(CancellationToken stop)
    {
        var writer = _shards.Writer(_shard);
        for (var n = 0UL; !stop.IsCancellationRequested; n++)
        {
            var update = new Update($"w-{n}", n.ToString(), n, 1);
            while (true)
            {
                try
                {
                    var result = await writer.CompareAndAppendAsync([update], Frontier.At(n), Frontier.At(n + 1), $"chaos-{n}");
                    if (result.Outcome == AppendOutcome.UpperMismatch)
                    {
                        Unexpected($"append {n} answered an upper mismatch at {result.Upper}: the only writer lost track");
                        return;
                    }
                    Volatile.Write(ref _upper, (long)n + 1);
                    if (_operating) Interlocked.Increment(ref _appendsDuring);
                    Appended();
                    break;
                }
                catch (Exception error) when (Transient.IsTransient(error) || error is ShardStorageException)
                {
                    // In doubt after the client's own retries: the same key again applies it at most once.
                    Unexpected($"append {n} still failing after retries: {error.GetType().Name}: {error.Message}");
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                }
                catch (Exception error)
                {
                    Unexpected($"append {n}: {error.GetType().Name}: {error.Message}");
                    return;
                }
            }
            try
            {
                await Task.Delay(_settings.AppendPause, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Leases a snapshot as of the latest acknowledged append, fetches its parts every
    /// <see cref="ChaosSettings.FetchEvery"/> while holding it, then returns it and moves since up to it.</summary>
    private async Task HoldAsync(Reader reader, CancellationToken stop)
    {
        await ReaderLoopAsync(reader, stop, async () =>
        {
            var upper = (ulong)Volatile.Read(ref _upper);
            if (upper == 0 || upper - 1 < reader.Handle.Since.Time)
            {
                await Task.Delay(_settings.AppendPause, stop);
                return;
            }
            var leased = await reader.Handle.SnapshotAsync(upper - 1, stop);
            reader.Outstanding[leased.LeaseId] = leased;
            Interlocked.Increment(ref _leasedSnapshots);
            var until = Stopwatch.StartNew();
            try
            {
                do
                {
                    await FetchAsync(reader, leased);
                    await Task.Delay(_settings.FetchEvery, stop);
                }
                while (until.Elapsed < _settings.HoldFor);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // Stopping: the lease is returned on close.
                return;
            }
            await ReturnAsync(reader, leased);
        });
    }

    /// <summary>Waits in a snapshot as of <see cref="ChaosSettings.BlockAhead"/> appends beyond upper, reads it,
    /// returns it and moves since up to it.</summary>
    private async Task BlockAsync(Reader reader, CancellationToken stop)
    {
        await ReaderLoopAsync(reader, stop, async () =>
        {
            var asOf = (ulong)Volatile.Read(ref _upper) + _settings.BlockAhead;
            var leased = await reader.Handle.SnapshotAsync(asOf, stop);
            reader.Outstanding[leased.LeaseId] = leased;
            Interlocked.Increment(ref _blockedSnapshots);
            await FetchAsync(reader, leased);
            await ReturnAsync(reader, leased);
        });
    }

    private async Task ReaderLoopAsync(Reader reader, CancellationToken stop, Func<Task> step)
    {
        while (!stop.IsCancellationRequested && !reader.Lost)
        {
            try
            {
                await step();
            }
            catch (Exception error) when (stop.IsCancellationRequested && error is OperationCanceledException or TimeoutException)
            {
                return; // cut short by the stop, which also ends the retries of a call that timed out
            }
            catch (LeaseExpiredException error)
            {
                LeaseLost(reader, error.Message);
            }
            catch (Exception error)
            {
                Unexpected($"reader {reader.Handle.Reader}: {error.GetType().Name}: {error.Message}");
                await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
            }
        }
    }

    /// <summary>Fetches a leased snapshot's parts; they must be there and read exactly as of its time.</summary>
    private async Task FetchAsync(Reader reader, LeasedSnapshot leased)
    {
        ImmutableArray<(string Key, string Value, Int128 Diff)> contents;
        try
        {
            contents = await reader.Handle.ReadAsync(leased);
        }
        catch (Exception error) when (error is not LeaseExpiredException)
        {
            Interlocked.Increment(ref _unfetchable);
            Record($"leased snapshot {leased.LeaseId} of reader {reader.Handle.Reader} unfetchable: {error.GetType().Name}: {error.Message}");
            return;
        }
        if (!IsExactly(contents, leased.AsOf))
        {
            Interlocked.Increment(ref _readsWrong);
            Record($"leased snapshot as of {leased.AsOf} read {contents.Length} entries");
        }
    }

    private async Task ReturnAsync(Reader reader, LeasedSnapshot leased)
    {
        // Forgotten by the checker first: from here on the hold may move past it.
        reader.Outstanding.TryRemove(leased.LeaseId, out _);
        await reader.Handle.ReturnLeaseAsync(leased);
        reader.Returned[leased.LeaseId] = _clock.Elapsed; // the client was told: from here on it must not pin the hold
        await reader.Handle.DowngradeSinceAsync(Frontier.At(leased.AsOf));
    }

    /// <summary>Polls each reader's durable holds at the shard. (Not through the lease grain: a call there would
    /// reactivate a grain whose silo went, and hide a lease nobody else brings back.)</summary>
    private async Task CheckAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            foreach (var reader in _readers.Where(r => !r.Lost)) await CheckAsync(reader);
            try
            {
                await Task.Delay(_settings.CheckEvery, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task CheckAsync(Reader reader)
    {
        var before = reader.Outstanding.ToArray();
        var asked = _clock.Elapsed;
        ReaderStatus? status;
        try
        {
            status = await Transient.RetryAsync(() => _shardGrain.ReaderStatus(reader.Handle.Reader));
        }
        catch (Exception error)
        {
            Unexpected($"checking reader {reader.Handle.Reader}: {error.GetType().Name}: {error.Message}");
            return;
        }
        // Leases outstanding before and after the read were outstanding while it was taken.
        var outstanding = before.Where(l => reader.Outstanding.ContainsKey(l.Key)).Select(l => l.Value).ToList();
        Interlocked.Increment(ref _holdChecks);
        if (status is null)
        {
            LeaseLost(reader, "the shard holds no such reader");
            return;
        }
        if (status.Since < reader.MaxSince)
        {
            Interlocked.Increment(ref _sinceBackwards);
            Record($"reader {reader.Handle.Reader}: since hold moved back from {reader.MaxSince} to {status.Since}");
        }
        if (status.SeqNoHold < reader.MaxSeqNoHold)
        {
            Interlocked.Increment(ref _seqNoBackwards);
            Record($"reader {reader.Handle.Reader}: seqno hold moved back from {reader.MaxSeqNoHold} to {status.SeqNoHold}");
        }
        Returns(reader, status, asked);
        reader.MaxSince = Frontier.Max(reader.MaxSince, status.Since);
        reader.MaxSeqNoHold = Math.Max(reader.MaxSeqNoHold, status.SeqNoHold);
        foreach (var leased in outstanding.Where(l => status.SeqNoHold > l.SeqNo))
        {
            Interlocked.Increment(ref _releasedPast);
            Record($"reader {reader.Handle.Reader}: seqno hold {status.SeqNoHold} past outstanding lease {leased.LeaseId} at seqno {leased.SeqNo}");
        }
    }

    /// <summary>Times the keepers' recovery after a crash (a sync newer than the last one seen before it), and counts a
    /// returned lease still in the durable holds <see cref="ChaosSettings.ReturnPatience"/> after its return, or after
    /// the lease grains' recovery from a crash, as lost.</summary>
    private void Returns(Reader reader, ReaderStatus status, TimeSpan asked)
    {
        TimeSpan since;
        lock (_timing)
        {
            var now = _clock.Elapsed;
            // The first status read after the crash is the dead keeper's last sync; a later one is its successor's.
            if (_keepersPending.Contains(reader.Handle.Reader) && asked > _keepersCrashAt && reader.HeartbeatAtCrash is null)
                reader.HeartbeatAtCrash = status.LastHeartbeat;
            else if (_keepersPending.Contains(reader.Handle.Reader) && status.LastHeartbeat > reader.HeartbeatAtCrash)
            {
                _keepersPending.Remove(reader.Handle.Reader);
                if (_keepersPending.Count == 0)
                {
                    _keepersBackAt = now;
                    if (_keepersBack is not { } longest || now - _keepersCrashAt > longest) _keepersBack = now - _keepersCrashAt;
                }
            }
            if (_keepersPending.Count > 0) return; // a keeper is down: its returns wait for it
            since = _keepersBackAt;
        }
        foreach (var (leaseId, returnedAt) in reader.Returned.ToArray())
        {
            if (!status.Leases.ContainsKey(leaseId))
                reader.Returned.TryRemove(leaseId, out _);
            else if (_clock.Elapsed - (returnedAt > since ? returnedAt : since) > _settings.ReturnPatience && reader.Returned.TryRemove(leaseId, out _))
            {
                Interlocked.Increment(ref _returnsLost);
                Record($"reader {reader.Handle.Reader}: lease {leaseId}, returned, still pins the hold at seqno {status.Leases[leaseId]}");
            }
        }
    }

    /// <summary>Returns every outstanding lease and closes every reader that still has its lease.</summary>
    private async Task CloseReadersAsync()
    {
        foreach (var reader in _readers.Where(r => !r.Lost))
        {
            try
            {
                foreach (var leased in reader.Outstanding.Values)
                {
                    reader.Outstanding.TryRemove(leased.LeaseId, out _);
                    await reader.Handle.ReturnLeaseAsync(leased);
                }
                await reader.Handle.ExpireAsync();
            }
            catch (LeaseExpiredException error)
            {
                LeaseLost(reader, error.Message);
            }
            catch (Exception error)
            {
                Unexpected($"closing reader {reader.Handle.Reader}: {error.GetType().Name}: {error.Message}");
            }
        }
        foreach (var reader in _readers) await reader.Handle.DisposeAsync();
    }

    /// <summary>One exact read as of the last acknowledged append: each acknowledged update exactly once.</summary>
    private async Task<(long Lost, long Doubled)> FinalReadAsync()
    {
        var upper = (ulong)_upper;
        var shardUpper = await _shards.Writer(_shard).FetchUpperAsync();
        if (shardUpper != Frontier.At(upper)) Unexpected($"the shard's upper is {shardUpper}, the writer's {upper}");
        if (upper == 0) return (0, 0);
        var contents = await _shards.ReadAsync(_shard, upper - 1);
        var seen = contents.Where(c => c.Key == $"w-{c.Value}").ToDictionary(c => c.Value, c => c.Diff);
        long lost = 0, doubled = 0;
        for (var n = 0UL; n < upper; n++)
        {
            var diff = seen.GetValueOrDefault(n.ToString());
            if (diff == 0) lost++;
            else if (diff > 1) doubled++;
        }
        if (lost > 0 || doubled > 0) Record($"final read as of {upper - 1}: {lost} appends lost, {doubled} doubled");
        return (lost, doubled);
    }

    private static double Seconds(TimeSpan duration) => Math.Round(duration.TotalSeconds, 1);

    /// <summary>An append was acknowledged: the gap since the previous one, and the shard's recovery from a crash.</summary>
    private void Appended()
    {
        lock (_timing)
        {
            var now = _clock.Elapsed;
            if (_lastAppend is { } last && now - last > _longestGap) _longestGap = now - last;
            if (_lastAppend is not null) _lastAppend = now;
            if (_crashAt is { } crash)
            {
                if (_shardBack is not { } longest || now - crash > longest) _shardBack = now - crash;
                _crashAt = null;
            }
        }
    }

    private static bool IsExactly(ImmutableArray<(string Key, string Value, Int128 Diff)> contents, ulong asOf) =>
        (ulong)contents.Length == asOf + 1 &&
        contents.All(c => c.Diff == 1 && c.Key == $"w-{c.Value}" && ulong.TryParse(c.Value, out var n) && n <= asOf);

    private void LeaseLost(Reader reader, string why)
    {
        if (reader.Lost) return;
        reader.Lost = true;
        Interlocked.Increment(ref _leasesLost);
        Record($"reader {reader.Handle.Reader} lost its lease: {why}");
    }

    private void Unexpected(string error)
    {
        Interlocked.Increment(ref _unexpected);
        Record(error);
    }

    private void Record(string error)
    {
        _progress($"  ! {error}");
        if (_errors.Count < ErrorsKept) _errors.Enqueue(error);
    }

    private sealed class Reader(ReadHandle handle, bool blocked)
    {
        public ReadHandle Handle { get; } = handle;

        public bool Blocked { get; } = blocked;

        /// <summary>Leases the reader holds and has not begun to return, by id.</summary>
        public ConcurrentDictionary<ulong, LeasedSnapshot> Outstanding { get; } = new();

        private volatile bool _lost;

        public bool Lost { get => _lost; set => _lost = value; }

        // The highest holds the checker has seen (only the checker touches them).
        public Frontier MaxSince { get; set; }

        public ulong MaxSeqNoHold { get; set; }

        /// <summary>Leases the client returned (and was told so), by id, with when; until the durable holds drop them.</summary>
        public ConcurrentDictionary<ulong, TimeSpan> Returned { get; } = new();

        /// <summary>The keeper's last sync before the latest crash of its silo, once the checker has seen it (under the
        /// scenario's timing lock).</summary>
        public DateTimeOffset? HeartbeatAtCrash { get; set; }
    }
}
