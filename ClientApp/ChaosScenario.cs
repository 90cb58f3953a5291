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

    /// <summary>Load after the operations end, so that a lease the operations broke has time to show it.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>What the chaos scenario saw. Every count up to <see cref="UnexpectedErrors"/> must be 0.</summary>
public sealed record ChaosReport(
    string Operation,
    string Shard,
    long LeasesLost,
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
    ImmutableArray<string> Errors)
{
    public bool Passed => LeasesLost == 0 && SinceHoldsMovedBackwards == 0 && SeqNoHoldsMovedBackwards == 0 &&
                          SeqNoHoldsReleasedPastLeasedPart == 0 && LeasedPartsUnfetchable == 0 && LeasedReadsWrong == 0 &&
                          AppendsLost == 0 && AppendsDoubled == 0 && UnexpectedErrors == 0 && AppendsDuringOperations > 0;

    public IEnumerable<string> Lines()
    {
        yield return $"{Operation} on shard {Shard}: {(Passed ? "PASSED" : "FAILED")} ({OperationSeconds:F1} s of operations)";
        yield return $"  leases lost {LeasesLost}; since holds moved backwards {SinceHoldsMovedBackwards}; seqno holds moved backwards {SeqNoHoldsMovedBackwards}";
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
        _progress($"operations done in {operationSeconds:F1} s; {Interlocked.Read(ref _appendsDuring)} appends during them; settling {_settings.Settle.TotalSeconds} s");
        await Task.Delay(_settings.Settle, cancellation);

        stop.Cancel();
        await writing;
        await Task.WhenAll(reading);
        await checking;
        await CloseReadersAsync();
        var (lost, doubled) = await FinalReadAsync();
        return new ChaosReport(operation, _shard.Value, _leasesLost, _sinceBackwards, _seqNoBackwards, _releasedPast,
            _unfetchable, _readsWrong, lost, doubled, _unexpected, _appendsDuring, _upper, _leasedSnapshots,
            _blockedSnapshots, _holdChecks, Math.Round(operationSeconds, 1), [.. _errors]);
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

    private static async Task ReturnAsync(Reader reader, LeasedSnapshot leased)
    {
        // Forgotten by the checker first: from here on the hold may move past it.
        reader.Outstanding.TryRemove(leased.LeaseId, out _);
        await reader.Handle.ReturnLeaseAsync(leased);
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
        reader.MaxSince = Frontier.Max(reader.MaxSince, status.Since);
        reader.MaxSeqNoHold = Math.Max(reader.MaxSeqNoHold, status.SeqNoHold);
        foreach (var leased in outstanding.Where(l => status.SeqNoHold > l.SeqNo))
        {
            Interlocked.Increment(ref _releasedPast);
            Record($"reader {reader.Handle.Reader}: seqno hold {status.SeqNoHold} past outstanding lease {leased.LeaseId} at seqno {leased.SeqNo}");
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
    }
}
