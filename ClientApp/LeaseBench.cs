using Orleans.Leases.Hosting;
using Azure.Storage.Blobs.Models;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// Many live leases on one silo for several heartbeat intervals: are they all kept, how many storage writes do their
/// heartbeats cost each shard, how late do the heartbeat ticks come, and what do they cost in CPU and memory.
/// </summary>
internal static class LeaseBench
{
    public sealed record Settings(int Shards, int ReadersPerShard, TimeSpan Lease, TimeSpan Heartbeat, int Intervals, bool Json)
    {
        /// <summary>The readers' lease settings; throws <see cref="InvalidLeaseSettingsException"/> for a heartbeat not
        /// below the lease.</summary>
        public LeaseSettings LeaseSettings() =>
            new LeaseSettings { LeaseDuration = Lease, HeartbeatInterval = Heartbeat, Purpose = "bench leases" }.Validated();
    }

    /// <summary>Hosts a silo in this process (on the configured storage) and runs the bench against it. Figures are
    /// exact here: the process is the silo, and every heartbeat tick is seen through the service's meter.</summary>
    public static async Task<int> RunInProcessAsync(Settings settings, CancellationToken cancellation)
    {
        settings.LeaseSettings();
        return await InProcessSilo.RunAsync(settings.Json, cancellation, silo =>
            RunAsync(silo.GetRequiredService<IClusterClient>(), new ThisProcess(), settings, cancellation));
    }

    /// <summary>Runs against a cluster of one silo in another process: the CPU, memory and GC figures are that silo's
    /// own, without this process's clients.</summary>
    public static Task<int> RunAsync(Cluster cluster, Settings settings, CancellationToken cancellation) =>
        RunAsync(cluster.Client, new RemoteSilo(cluster.Client), settings, cancellation);

    private static async Task<int> RunAsync(IClusterClient client, ISiloProbe silo, Settings settings, CancellationToken cancellation)
    {
        var shards = new ShardClient(client);
        var run = Guid.NewGuid().ToString("N")[..8];
        var shardIds = Enumerable.Range(0, settings.Shards).Select(i => new ShardId($"bench-leases-{run}-{i}")).ToArray();
        var total = settings.Shards * settings.ReadersPerShard;
        var lease = settings.LeaseSettings();
        using var lateness = new LatenessRecorder();
        var clock = Stopwatch.StartNew();

        Output.Progress(settings.Json, $"{settings.Shards} shards × {settings.ReadersPerShard} readers = {total} leases (lease {settings.Lease.TotalSeconds} s, heartbeat {settings.Heartbeat.TotalSeconds} s)");
        await Parallel.ForEachAsync(shardIds, Parallelism(64, cancellation), async (shard, _) =>
            await shards.Writer(shard).CompareAndAppendAsync([new("k", "v", 0, 1)], Frontier.At(0), Frontier.At(1)));
        var baseline = await silo.SampleAsync(settled: true);

        var readers = new ReadHandle[total];
        var opened = 0;
        using (Every(TimeSpan.FromSeconds(5), () => Output.Progress(settings.Json, $"opened {Volatile.Read(ref opened)}/{total} leases, {clock.Elapsed.TotalSeconds:F0} s")))
        {
            // A shard's readers open together, so their registrations share the shard's writes.
            await Parallel.ForEachAsync(Enumerable.Range(0, settings.Shards), Parallelism(32, cancellation), async (s, _) =>
                await Task.WhenAll(Enumerable.Range(s * settings.ReadersPerShard, settings.ReadersPerShard).Select(async i =>
                {
                    readers[i] = await shards.OpenReaderAsync(shardIds[s], lease);
                    Interlocked.Increment(ref opened);
                })));
        }
        var openSeconds = clock.Elapsed.TotalSeconds;
        Output.Progress(settings.Json, $"all {total} leases open after {openSeconds:F1} s; measuring {settings.Intervals} heartbeat intervals");

        // One interval to settle into the rhythm, then the measured ones.
        await Task.Delay(settings.Heartbeat, cancellation);
        var writesBefore = await StateWritesAsync(client, shardIds);
        var start = await silo.SampleAsync(settled: false);
        lateness.Start();
        var window = Stopwatch.StartNew();
        for (var i = 1; i <= settings.Intervals; i++)
        {
            await Task.Delay(settings.Heartbeat, cancellation);
            Output.Progress(settings.Json, $"interval {i}/{settings.Intervals} done" + (silo.SeesTicks ? $": {lateness.Count} heartbeat ticks so far" : ""));
        }
        lateness.Stop();
        var end = await silo.SampleAsync(settled: false);
        var measured = window.Elapsed;
        var writes = await StateWritesAsync(client, shardIds) - writesBefore;

        var live = 0;
        long unanswered = 0;
        await Parallel.ForEachAsync(readers, Parallelism(1000, cancellation), async (reader, _) =>
        {
            var info = await reader.InspectAsync();
            if (info.IsLive) Interlocked.Increment(ref live);
            Interlocked.Add(ref unanswered, info.ClientUnanswered);
        });
        var stateBytes = await ConfiguredStorage.MeanStateBytesAsync($"bench-leases-{run}-", cancellation);
        // After the window (a forced collection pauses every tick), at four points of one interval: the heartbeats a
        // shard holds back to share a write are calls in flight, and how many there are rises and falls each interval.
        var settled = new List<Sample>();
        for (var i = 0; i < SettledSamples; i++)
        {
            if (i > 0) await Task.Delay(settings.Heartbeat / SettledSamples, cancellation);
            settled.Add(await silo.SampleAsync(settled: true));
        }
        long PerLease(Func<ProcessFigures, long> figure, Func<IEnumerable<long>, double> over) =>
            (long)Math.Round((over(settled.Select(s => figure(s.Figures))) - figure(baseline.Figures)) / total);
        var intervalsMeasured = measured / settings.Heartbeat;
        var result = new
        {
            mode = silo.Mode,
            shards = settings.Shards,
            readersPerShard = settings.ReadersPerShard,
            leaseSeconds = settings.Lease.TotalSeconds,
            heartbeatSeconds = settings.Heartbeat.TotalSeconds,
            openSeconds = Math.Round(openSeconds, 1),
            measuredSeconds = Math.Round(measured.TotalSeconds, 1),
            liveLeases = live,
            leasesLost = total - live,
            clientPingsUnanswered = unanswered,
            storageWritesPerShardPerInterval = Math.Round(writes / (double)settings.Shards / intervalsMeasured, 3),
            stateBytesPerWrite = stateBytes,
            stateBytesPerSync = Math.Round(stateBytes * writes / (double)(total * intervalsMeasured)),
            heartbeatTicks = silo.SeesTicks ? lateness.Count : (int?)null,
            heartbeatLatenessP50Ms = lateness.Percentile(0.50),
            heartbeatLatenessP99Ms = lateness.Percentile(0.99),
            heartbeatLatenessMaxMs = lateness.Percentile(1.0),
            siloCpuPercentOfOneCore = end.CpuPercentSince(start),
            gcPauseMsInWindow = Math.Round((end.Figures.GcPause - start.Figures.GcPause).TotalMilliseconds),
            serverGc = end.Figures.ServerGc,
            // Means over the samples; the managed heap's range too.
            workingSetBytesPerLease = PerLease(f => f.WorkingSet, v => v.Average()),
            managedHeapBytesPerLease = PerLease(f => f.ManagedHeap, v => v.Average()),
            managedHeapBytesPerLeaseMin = PerLease(f => f.ManagedHeap, v => v.Min()),
            managedHeapBytesPerLeaseMax = PerLease(f => f.ManagedHeap, v => v.Max()),
            // Before the leases opened and with them open (both after a collection): a fixed cost that comes with the
            // first leases (a cache sized up front, say) shows here rather than hiding in the figure per lease.
            managedHeapBytesBefore = baseline.Figures.ManagedHeap,
            managedHeapBytesWithLeases = (long)settled.Average(s => s.Figures.ManagedHeap),
        };

        Output.Progress(settings.Json, "closing the leases...");
        await Parallel.ForEachAsync(readers, Parallelism(1000, cancellation), async (reader, _) => await reader.DisposeAsync());
        Console.WriteLine(settings.Json
            ? JsonSerializer.Serialize(result, Output.Json)
            : $"""
               {result.liveLeases} live leases, {result.leasesLost} lost, on {result.shards} shards ({result.mode})
               storage writes per shard per heartbeat interval: {result.storageWritesPerShardPerInterval}, {result.stateBytesPerWrite} B each ({result.stateBytesPerSync} B per heartbeat)
               heartbeat lateness {(silo.SeesTicks ? $"p50 {result.heartbeatLatenessP50Ms} ms, p99 {result.heartbeatLatenessP99Ms} ms, max {result.heartbeatLatenessMaxMs} ms ({result.heartbeatTicks} ticks)" : "seen with --in-process only")}
               silo CPU {result.siloCpuPercentOfOneCore}% of one core, GC pauses {result.gcPauseMsInWindow} ms of {result.measuredSeconds} s; per lease {result.managedHeapBytesPerLease} B managed heap, {result.workingSetBytesPerLease} B working set
               """);
        return result.leasesLost == 0 ? 0 : 1;
    }

    private static async Task<long> StateWritesAsync(IGrainFactory grains, ShardId[] shards)
    {
        long writes = 0;
        await Parallel.ForEachAsync(shards, Parallelism(64, default), async (shard, _) =>
            Interlocked.Add(ref writes, (await grains.GetGrain<IShardGrain>(shard.Value).Inspect()).Counters.StateWrites));
        return writes;
    }

    private const int SettledSamples = 4;

    private static ParallelOptions Parallelism(int degree, CancellationToken cancellation) =>
        new() { MaxDegreeOfParallelism = degree, CancellationToken = cancellation };

    private static Timer Every(TimeSpan period, Action action) => new(_ => action(), null, period, period);

    /// <summary>Every heartbeat tick's lateness, from the service's meter (in this process only).</summary>
    private sealed class LatenessRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentBag<double> _values = [];
        private volatile bool _recording;

        public LatenessRecorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == LeasesTelemetry.MeterName && instrument.Name == "leases.reader.heartbeat_lateness")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<double>((_, value, _, _) => { if (_recording) _values.Add(value * 1000); }); // s → ms
            _listener.Start();
        }

        public int Count => _values.Count;

        public void Start() => _recording = true;

        public void Stop() => _recording = false;

        /// <summary>The <paramref name="q"/> quantile in ms, or null when no tick was seen (a remote silo).</summary>
        public double? Percentile(double q) => _values.IsEmpty ? null : Math.Round(Quantile.Of([.. _values.Order()], q), 1);

        public void Dispose() => _listener.Dispose();
    }

    private sealed record Sample(DateTime At, ProcessFigures Figures)
    {
        /// <summary>CPU used between two samples, as a percentage of one core.</summary>
        public double CpuPercentSince(Sample start) =>
            Math.Round(100 * (Figures.Cpu - start.Figures.Cpu).TotalSeconds / (At - start.At).TotalSeconds, 1);
    }

    private interface ISiloProbe
    {
        string Mode { get; }

        /// <summary>The silo runs in this process: its meter and ticks are visible here.</summary>
        bool SeesTicks => false;

        /// <summary>The silo's CPU, memory and GC figures now; <paramref name="settled"/> first collects garbage, for
        /// memory figures that count live objects only.</summary>
        Task<Sample> SampleAsync(bool settled);
    }

    private sealed class ThisProcess : ISiloProbe
    {
        private readonly SiloFigures _figures = new();

        public string Mode => "in-process";

        public bool SeesTicks => true;

        public async Task<Sample> SampleAsync(bool settled) =>
            new(DateTime.UtcNow, (ProcessFigures)(await _figures.ExecuteCommand(settled ? SiloFigures.SettledSample : SiloFigures.Sample, null))!);
    }

    /// <summary>The one silo's own figures (<see cref="SiloFigures"/>, through the management grain): the silo's cost
    /// alone, the clients running here.</summary>
    private sealed class RemoteSilo(IClusterClient client) : ISiloProbe
    {
        public string Mode => "remote silo";

        public async Task<Sample> SampleAsync(bool settled)
        {
            var management = client.GetGrain<IManagementGrain>(0);
            var silos = await management.GetHosts(onlyActive: true);
            if (silos.Count != 1) throw new ArgumentException($"bench leases measures one silo; the cluster has {silos.Count} (use --in-process or a one-silo cluster)");
            object?[] answers;
            try
            {
                answers = await management.SendControlCommandToProvider<SiloFigures>(SiloFigures.Name, settled ? SiloFigures.SettledSample : SiloFigures.Sample);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                // Only the sample silo registers SiloFigures (it lets any client make the silo collect garbage).
                throw new ArgumentException($"the silo does not report its own figures ({error.GetBaseException().Message}); run it with ./run.sh, or use --in-process", error);
            }
            return new Sample(DateTime.UtcNow, (ProcessFigures)answers.Single()!);
        }
    }
}
