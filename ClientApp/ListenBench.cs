using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// One writer appends small batches at a steady rate while N listeners follow the shard (subscribed from its first
/// time); one of them stops pulling for 5× its lease, then resumes. Prints the latency from append to listener, the
/// storage part reads per part appended, the stalled listener's lease and seqno lag with the shard's retained seqnos
/// and retired bytes, and whether every listener saw every update exactly once (exit code 1 unless all did).
/// </summary>
internal static class ListenBench
{
    private static readonly TimeSpan AppendEvery = TimeSpan.FromMilliseconds(50);
    private const int UpdatesPerBatch = 4;
    private static readonly TimeSpan StallStartsAfter = TimeSpan.FromSeconds(2);

    public sealed record Settings(int Listeners, int Seconds, TimeSpan Lease, bool Json)
    {
        public LeaseSettings LeaseSettings() => new LeaseSettings { LeaseDuration = Lease, Purpose = "bench listen" }.Validated();

        public TimeSpan Stall => 5 * Lease;

        /// <summary>Throws <see cref="ArgumentException"/> unless the stall and a few seconds after it fit the run.</summary>
        public Settings Validated()
        {
            LeaseSettings();
            if (StallStartsAfter + Stall + TimeSpan.FromSeconds(2) > TimeSpan.FromSeconds(Seconds))
                throw new ArgumentException($"--seconds {Seconds} is too short for a stall of {Stall.TotalSeconds} s (5× the lease) from {StallStartsAfter.TotalSeconds} s on, and 2 s after it.");
            return this;
        }
    }

    /// <summary>Hosts the silo in this process: storage part reads are seen through its meter.</summary>
    public static async Task<int> RunInProcessAsync(Settings settings, CancellationToken cancellation)
    {
        settings.Validated();
        return await InProcessSilo.RunAsync(settings.Json, cancellation, async silo =>
        {
            var options = silo.GetRequiredService<IOptions<ShardServiceOptions>>().Value;
            using var reads = new PartReadCounter();
            return await RunAsync(silo.GetRequiredService<IClusterClient>(), new ShardClient(silo.GetRequiredService<IClusterClient>()),
                reads, options.HeartbeatWriteDelay, options.InlineWriteMaxBytes, settings, cancellation);
        });
    }

    /// <summary>Against a running cluster: the silo's meter is not seen here, so no part read figures; the heartbeat
    /// write delay shown is the default.</summary>
    public static Task<int> RunAsync(Cluster cluster, Settings settings, CancellationToken cancellation) =>
        RunAsync(cluster.Client, cluster.Shards, null, new ShardServiceOptions().HeartbeatWriteDelay, null, settings.Validated(), cancellation);

    private static async Task<int> RunAsync(IClusterClient client, ShardClient shards, PartReadCounter? reads,
        TimeSpan heartbeatWriteDelay, long? inlineWriteMaxBytes, Settings settings, CancellationToken cancellation)
    {
        var shard = new ShardId($"bench-listen-{Guid.NewGuid():N}");
        var shardGrain = client.GetGrain<IShardGrain>(shard.Value);
        var writer = shards.Writer(shard);
        var lease = settings.LeaseSettings();
        var written = new Dictionary<(string, string), long>();
        var appendStarted = new ConcurrentDictionary<ulong, long>(); // time → timestamp just before its append

        await Append(writer, [new("start", "s", 0, 1)], 0, written);
        var listeners = new Listener[settings.Listeners];
        for (var i = 0; i < listeners.Length; i++)
            listeners[i] = new Listener(await shards.OpenReaderAsync(shard, lease), stalls: i == 0, settings.Stall);
        Output.Progress(settings.Json, $"{settings.Listeners} listeners (lease {settings.Lease.TotalSeconds} s; one stalls {settings.Stall.TotalSeconds} s), " +
                                       $"a batch of {UpdatesPerBatch} updates every {AppendEvery.TotalMilliseconds} ms for {settings.Seconds} s");

        var readsBefore = reads?.Snapshot();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var clock = Stopwatch.StartNew();
        var following = listeners.Select(l => l.FollowAsync(appendStarted, clock, StallStartsAfter, stop.Token)).ToArray();

        // The stalled listener's seqno lag (beside one that keeps pulling) and the shard's retained seqnos and retired
        // bytes, sampled.
        ulong maxSeqNoLag = 0, otherMaxSeqNoLag = 0, peakRetained = 0;
        long peakRetiredBytes = 0;
        var sampling = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Holds first: the seqno read after them is at least theirs.
                var stalled = await shardGrain.ReaderStatus(listeners[0].Reader.Reader);
                var other = listeners.Length > 1 ? await shardGrain.ReaderStatus(listeners[1].Reader.Reader) : null;
                var info = await shardGrain.Inspect();
                peakRetained = Math.Max(peakRetained, info.RetainedSeqNos);
                peakRetiredBytes = Math.Max(peakRetiredBytes, info.RetiredBytes);
                if (stalled is not null) maxSeqNoLag = Math.Max(maxSeqNoLag, info.SeqNo - stalled.SeqNoHold);
                if (other is not null) otherMaxSeqNoLag = Math.Max(otherMaxSeqNoLag, info.SeqNo - other.SeqNoHold);
                await Task.Delay(100, CancellationToken.None);
            }
        }, CancellationToken.None);

        ulong time = 1;
        var next = TimeSpan.Zero;
        while (clock.Elapsed < TimeSpan.FromSeconds(settings.Seconds))
        {
            var batch = Enumerable.Range(0, UpdatesPerBatch)
                .Select(j => new Update($"key-{(time * UpdatesPerBatch + (ulong)j) % 64:D2}", "v", time, (long)(time % 3) + 1)).ToArray();
            appendStarted[time] = Stopwatch.GetTimestamp();
            await Append(writer, batch, time, written);
            time++;
            next += AppendEvery;
            if (next > clock.Elapsed) await Task.Delay(next - clock.Elapsed, cancellation);
        }
        var appends = (long)time - 1;
        var finalUpper = time;
        Output.Progress(settings.Json, $"{appends} batches appended; waiting for the listeners to reach {finalUpper}...");

        // Each listener ends once its progress reaches the final upper; 60 s is far past any healthy one.
        var caughtUp = Task.WhenAll(listeners.Select(l => l.ReachedAsync(finalUpper)));
        await Task.WhenAny(caughtUp, Task.Delay(TimeSpan.FromSeconds(60), cancellation));
        var readsAfter = reads?.Snapshot();
        await stop.CancelAsync();
        await Task.WhenAll(following);
        await sampling;

        var live = 0;
        foreach (var l in listeners)
            if ((await l.Reader.InspectAsync()).IsLive) live++;
        var expected = written.Where(w => w.Value != 0).ToDictionary();
        var exact = listeners.Count(l => l.Saw(expected));
        var latencies = listeners.SelectMany(l => l.Latencies).Order().ToArray();
        var final = await shardGrain.Inspect();
        var partsAppended = inlineWriteMaxBytes == 0 ? appends : (long?)null; // each stored append is one part
        var (storageReads, cacheHits) = readsAfter is { } after && readsBefore is { } before
            ? (after.Reads - before.Reads, after.CacheHits - before.CacheHits)
            : ((long?)null, (long?)null);

        var result = new
        {
            listeners = settings.Listeners,
            seconds = settings.Seconds,
            leaseSeconds = settings.Lease.TotalSeconds,
            appendEveryMs = AppendEvery.TotalMilliseconds,
            updatesPerBatch = UpdatesPerBatch,
            batchesAppended = appends,
            latencySamples = latencies.Length,
            latencyP50Ms = Percentile(latencies, 0.50),
            latencyP99Ms = Percentile(latencies, 0.99),
            latencyMaxMs = Percentile(latencies, 1.0),
            heartbeatWriteDelayMs = heartbeatWriteDelay.TotalMilliseconds,
            inlineWriteMaxBytes,
            partsAppended,
            storagePartReads = storageReads,
            partCacheHits = cacheHits,
            storagePartReadsPerPartAppended = storageReads is { } r && partsAppended is { } p && p > 0 ? Math.Round(r / (double)p, 3) : (double?)null,
            stalledSeconds = settings.Stall.TotalSeconds,
            stalledLeaseKeptAfterStall = listeners[0].LiveAfterStall,
            stalledMaxSeqNoLag = maxSeqNoLag,
            pullingListenerMaxSeqNoLag = listeners.Length > 1 ? otherMaxSeqNoLag : (ulong?)null,
            shardSeqNos = final.SeqNo,
            shardStateWrites = final.Counters.StateWrites,
            peakRetainedSeqNos = peakRetained,
            peakRetiredBytes,
            finalRetainedSeqNos = final.RetainedSeqNos,
            finalRetiredBytes = final.RetiredBytes,
            liveLeasesAtEnd = live,
            listenersLeaseLost = listeners.Count(l => l.LeaseLost),
            listenersExact = exact,
            listenersNotExact = settings.Listeners - exact,
        };

        await Task.WhenAll(listeners.Select(l => l.Reader.DisposeAsync().AsTask()));
        Console.WriteLine(settings.Json
            ? JsonSerializer.Serialize(result, Output.Json)
            : $"""
               append → listener latency p50 {result.latencyP50Ms} ms, p99 {result.latencyP99Ms} ms, max {result.latencyMaxMs} ms ({result.latencySamples} samples; heartbeat write delay {result.heartbeatWriteDelayMs} ms)
               storage part reads per part appended: {(result.storagePartReadsPerPartAppended is { } perPart ? $"{perPart} ({result.storagePartReads} reads, {result.partCacheHits} cache hits, {result.partsAppended} parts)" : "seen with --in-process and stored batches only")}
               stalled listener ({result.stalledSeconds} s): lease kept {result.stalledLeaseKeptAfterStall}, max seqno lag {result.stalledMaxSeqNoLag} (one pulling: {result.pullingListenerMaxSeqNoLag}; {result.shardSeqNos} seqnos, {result.shardStateWrites} state writes in all); shard peak retained seqnos {result.peakRetainedSeqNos}, peak retired bytes {result.peakRetiredBytes}
               {result.listenersExact} of {result.listeners} listeners saw every update exactly once; {result.liveLeasesAtEnd} leases live at the end, {result.listenersLeaseLost} listens ended by a lost lease
               """);
        return result.listenersNotExact == 0 ? 0 : 1;
    }

    private static async Task Append(WriteHandle writer, Update[] batch, ulong time, Dictionary<(string, string), long> written)
    {
        var result = await writer.CompareAndAppendAsync(batch, Frontier.At(time), Frontier.At(time + 1));
        if (result.Outcome is not (AppendOutcome.Applied or AppendOutcome.AlreadyApplied))
            throw new ArgumentException($"the bench's append at {time} was refused ({result.Outcome}, upper {result.Upper}): is another writer on the shard?");
        foreach (var u in batch) written[(u.Key, u.Value)] = written.GetValueOrDefault((u.Key, u.Value)) + u.Diff;
    }

    private static double? Percentile(double[] sorted, double q) => sorted.Length == 0 ? null : Math.Round(Quantile.Of(sorted, q), 1);

    /// <summary>One subscriber: sums what it is given per key and value, and times each batch's arrival.</summary>
    private sealed class Listener(ReadHandle reader, bool stalls, TimeSpan stall)
    {
        private readonly Dictionary<(string, string), long> _seen = [];
        private readonly TaskCompletionSource _stallOver = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ulong _progress;
        private readonly List<(ulong Upper, TaskCompletionSource Reached)> _waiting = [];
        private readonly Lock _lock = new();

        public ReadHandle Reader { get; } = reader;

        public List<double> Latencies { get; } = [];

        public bool? LiveAfterStall { get; private set; }

        public bool LeaseLost { get; private set; }

        public async Task FollowAsync(ConcurrentDictionary<ulong, long> appendStarted, Stopwatch clock, TimeSpan stallAfter, CancellationToken stop)
        {
            var stalledUntil = 0L; // timestamp: a batch appended before it waited for the stall, not for the listen
            try
            {
                await foreach (var e in Reader.SubscribeAsync(0, new ListenOptions(), stop))
                {
                    if (e is ListenEvent.Updates updates)
                    {
                        var now = Stopwatch.GetTimestamp();
                        foreach (var u in updates.Batch) _seen[(u.Key, u.Value)] = _seen.GetValueOrDefault((u.Key, u.Value)) + u.Diff;
                        foreach (var t in updates.Batch.Select(u => u.Time).Distinct())
                            if (appendStarted.TryGetValue(t, out var started) && started >= stalledUntil)
                                Latencies.Add(Stopwatch.GetElapsedTime(started, now).TotalMilliseconds);
                        if (stalls && LiveAfterStall is null && clock.Elapsed >= stallAfter)
                        {
                            await Task.Delay(stall, stop); // stops pulling: holds no lease meanwhile
                            stalledUntil = Stopwatch.GetTimestamp();
                            LiveAfterStall = (await Reader.InspectAsync()).IsLive;
                        }
                    }
                    else if (e is ListenEvent.Progress { Upper: var upper })
                    {
                        Progressed(upper.IsEmpty ? ulong.MaxValue : upper.Time);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The run is over.
            }
            catch (LeaseExpiredException)
            {
                LeaseLost = true; // what it missed shows in its sums
            }
            finally
            {
                Progressed(ulong.MaxValue); // nobody waits for a listen that ended
            }
        }

        /// <summary>Completes when the listen's progress reaches <paramref name="upper"/>.</summary>
        public Task ReachedAsync(ulong upper)
        {
            lock (_lock)
            {
                if (_progress >= upper) return Task.CompletedTask;
                var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Add((upper, reached));
                return reached.Task;
            }
        }

        /// <summary>True when the sums given to this listener are exactly those written.</summary>
        public bool Saw(Dictionary<(string, string), long> expected)
        {
            var seen = _seen.Where(s => s.Value != 0).ToDictionary();
            return seen.Count == expected.Count && seen.All(s => expected.GetValueOrDefault(s.Key) == s.Value);
        }

        private void Progressed(ulong upper)
        {
            lock (_lock)
            {
                _progress = Math.Max(_progress, upper);
                foreach (var w in _waiting.Where(w => w.Upper <= _progress).ToArray())
                {
                    w.Reached.SetResult();
                    _waiting.Remove(w);
                }
            }
        }
    }

    /// <summary>The silo's storage part reads and part cache hits, from its meter (in this process only).</summary>
    private sealed class PartReadCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _reads, _hits;

        public PartReadCounter()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == LeasesTelemetry.MeterName && instrument.Name is "leases.parts.reads" or "leases.parts.cache_hits")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            {
                if (instrument.Name == "leases.parts.reads") Interlocked.Add(ref _reads, value);
                else Interlocked.Add(ref _hits, value);
            });
            _listener.Start();
        }

        public (long Reads, long CacheHits) Snapshot() => (Interlocked.Read(ref _reads), Interlocked.Read(ref _hits));

        public void Dispose() => _listener.Dispose();
    }
}
