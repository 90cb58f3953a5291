using System.Collections.Immutable;
using System.Diagnostics;

namespace Orleans.Leases;

/// <summary>
/// A leased reader of one shard, for application code. Its lease lives in the cluster (an
/// <see cref="IReaderLeaseGrain"/>), which heartbeats it and makes downgrades durable in the background: nothing here
/// needs to be called "often enough". Dispose it to close the lease.
/// <para>Calls ride out a gateway or silo going away (<see cref="Transient"/>): each is retried where repeating it is
/// safe, and the lease survives meanwhile because it lives in the cluster.</para>
/// </summary>
public sealed partial class ReadHandle : IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IReaderLeaseGrain _lease;
    private readonly ReaderSecret _secret; // what makes this handle the reader's client
    private readonly RetryPolicy _retry;

    // Held here: the runtime keeps observers weakly, so a handle dropped without closing stops answering pings and
    // its lease lapses.
    private readonly Holds _holds;
    private readonly IReaderClient _client;
    private bool _disposed;

    private ReadHandle(IGrainFactory grains, ShardId shard, ReaderId reader, ReaderSecret secret, Holds holds,
        IReaderClient client, RetryPolicy retry)
    {
        _grains = grains;
        _retry = retry;
        _secret = secret;
        _holds = holds;
        _client = client;
        Shard = shard;
        Reader = reader;
        _lease = grains.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader));
    }

    public ShardId Shard { get; }

    public ReaderId Reader { get; }

    /// <summary>The since this reader last asked for (durable within one heartbeat interval).</summary>
    public Frontier Since => _holds.Since;

    /// <summary>Opens a leased reader: its since starts at the shard's since, its seqno hold at the shard's seqno.
    /// Retried on transient errors: opening an open reader answers its holds. A <paramref name="reader"/> id that is
    /// open already belongs to another handle, and is refused with <see cref="AccessDeniedException"/>.</summary>
    public static async Task<ReadHandle> OpenAsync(IGrainFactory grains, ShardId shard, LeaseSettings? settings = null,
        ReaderId? reader = null, RetryPolicy? retry = null)
    {
        settings = (settings ?? new LeaseSettings()).Validated();
        retry = (retry ?? RetryPolicy.Default).Validated();
        var id = reader ?? ReaderId.NewId();
        var secret = ReaderSecret.New();
        var holds = new Holds(secret.Hash());
        var client = grains.CreateObjectReference<IReaderClient>(holds);
        try
        {
            var lease = grains.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard.Validated(), id));
            var opened = await Transient.RetryAsync(() => lease.Open(secret, settings, client), default, retry);
            holds.AskedFor(opened.Since);
            return new ReadHandle(grains, shard, id, secret, holds, client, retry);
        }
        catch
        {
            grains.DeleteObjectReference<IReaderClient>(client);
            throw;
        }
    }

    /// <summary>Lets the shard compact up to <paramref name="since"/>: reads as of earlier times are no longer needed.
    /// Returns at once; the lease grain makes it durable. Retried on transient errors: asking again for the same since
    /// changes nothing.</summary>
    public async Task DowngradeSinceAsync(Frontier since)
    {
        await Transient.RetryAsync(() => _lease.DowngradeSince(_secret, since), default, _retry);
        _holds.AskedFor(since);
    }

    /// <summary>
    /// Leases the parts of an exact snapshot as of <paramref name="asOf"/> (≥ <see cref="Since"/>), waiting while the
    /// shard's upper is ≤ asOf for as long as <paramref name="cancellation"/> allows. The lease keeps moving while
    /// this waits. Return the lease with <see cref="ReturnLeaseAsync"/> when the parts are read.
    /// <para>Retried on transient errors, although leasing is not idempotent: an attempt whose answer was lost leaves
    /// a second lease this handle never learns of. That is safe — it only keeps the seqno hold at or below its seqno,
    /// so nothing is collected early — and the lease grain gives it back at its next heartbeat, when this handle's
    /// answer to its ping shows that nobody holds it.</para>
    /// </summary>
    public Task<LeasedSnapshot> SnapshotAsync(ulong asOf, CancellationToken cancellation = default) =>
        LeasesTelemetry.TraceAsync("leases.snapshot", Shard, async span =>
        {
            span?.SetTag("leases.reader", Reader.Value);
            span?.SetTag("leases.as_of", asOf);
            var started = Stopwatch.GetTimestamp();
            var (leased, rounds) = await LeaseOnceWrittenAsync(() => _lease.Snapshot(_secret, asOf), asOf, cancellation);
            span?.SetTag("leases.lease_id", leased.LeaseId);
            span?.SetTag("leases.wait_rounds", rounds);
            LeasesTelemetry.SnapshotDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("leases.waited", rounds > 0));
            return leased;
        }, ActivityKind.Client);

    /// <summary>Asks <paramref name="lease"/> until it leases (null: the shard's upper has not passed
    /// <paramref name="time"/>), waiting between asks for the upper to pass it; answers the lease and the rounds waited.</summary>
    private async Task<(LeasedSnapshot Leased, int Rounds)> LeaseOnceWrittenAsync(Func<Task<LeasedSnapshot?>> lease, ulong time,
        CancellationToken cancellation)
    {
        var shard = _grains.GetGrain<IShardGrain>(Shard.Value);
        for (var rounds = 0; ; rounds++)
        {
            if (await _holds.LeaseAsync(() => Transient.RetryAsync(lease, cancellation, _retry)) is { } leased) return (leased, rounds);
            await ShardClient.WaitForUpperAsync(shard, time, cancellation, _retry);
        }
    }

    public Task<ImmutableArray<Update>> FetchPartAsync(PartRef part) => ShardClient.FetchPartAsync(_grains, part, _retry);

    /// <summary>Fetches a leased snapshot's parts and consolidates them as of its time.</summary>
    public Task<ImmutableArray<(string Key, string Value, Int128 Diff)>> ReadAsync(LeasedSnapshot snapshot) =>
        ShardClient.ReadPartsAsync(_grains, snapshot.Parts, snapshot.AsOf, _retry);

    /// <summary>Gives the snapshot's lease back, so the reader's seqno hold can move past it. Returns at once.
    /// Retried on transient errors; a retry that finds the lease unknown means an earlier attempt returned it.</summary>
    public async Task ReturnLeaseAsync(LeasedSnapshot snapshot)
    {
        await Transient.RetryAsync<UnknownLeaseException>(() => _lease.ReturnLease(_secret, snapshot.LeaseId), _retry);
        // Only now: answered to a ping before the lease grain had the return, "not held" would make the grain return
        // it first and refuse this call as a return of an unknown lease.
        _holds.GiveBack(snapshot.LeaseId);
    }

    public Task<ReaderLeaseInfo> InspectAsync() => Transient.RetryAsync(_lease.Inspect, default, _retry);

    /// <summary>Ends the lease: the reader's holds are released at the shard and every later call fails.
    /// Retried on transient errors; a retry that finds the lease ended means an earlier attempt ended it.</summary>
    public Task ExpireAsync() => Transient.RetryAsync<LeaseExpiredException>(() => _lease.Expire(_secret), _retry);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            await ExpireAsync();
        }
        catch (LeaseExpiredException)
        {
            // Ended already (lapsed, or expired explicitly): nothing is held.
        }
        finally
        {
            // Unanswered pings end the lease within its duration even if the expiry above failed.
            _grains.DeleteObjectReference<IReaderClient>(_client);
        }
    }

    /// <summary>What this client holds, answered to the lease grain's pings: the client is the authority on what it
    /// gave back, so nothing it returned or asked for is lost if the lease grain's silo dies before making it durable.</summary>
    private sealed class Holds(string secretHash) : IReaderClient
    {
        private readonly Lock _lock = new();
        private readonly HashSet<ulong> _leases = [];
        private Frontier _since;
        private int _leasing;

        public Frontier Since
        {
            get { lock (_lock) return _since; }
        }

        public void AskedFor(Frontier since)
        {
            lock (_lock) _since = Frontier.Max(_since, since);
        }

        /// <summary>Leases a snapshot; while the call runs, the lease grain is told not to reconcile (the client cannot
        /// know the lease id yet).</summary>
        public async Task<LeasedSnapshot?> LeaseAsync(Func<Task<LeasedSnapshot?>> lease)
        {
            lock (_lock) _leasing++;
            try
            {
                var leased = await lease();
                if (leased is not null) lock (_lock) _leases.Add(leased.LeaseId);
                return leased;
            }
            finally
            {
                lock (_lock) _leasing--;
            }
        }

        public void GiveBack(ulong leaseId)
        {
            lock (_lock) _leases.Remove(leaseId);
        }

        public Task<ClientHolds> Ping()
        {
            lock (_lock) return Task.FromResult(new ClientHolds(_since, [.. _leases], _leasing > 0, secretHash));
        }
    }
}
