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
        using var host = await InProcessSilo.StartAsync(settings.Json, cancellation);
        try
        {
            return await RunAsync(host.Services.GetRequiredService<IClusterClient>(), new ThisProcess(), settings, cancellation);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Runs against a cluster of one silo (the figures are that silo's, from its runtime statistics).</summary>
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
        var gcPauseBefore = GC.GetTotalPauseDuration();
        lateness.Start();
        var window = Stopwatch.StartNew();
        for (var i = 1; i <= settings.Intervals; i++)
        {
            await Task.Delay(settings.Heartbeat, cancellation);
            Output.Progress(settings.Json, $"interval {i}/{settings.Intervals} done" + (silo.SeesTicks ? $": {lateness.Count} heartbeat ticks so far" : ""));
        }
        lateness.Stop();
        var end = await silo.SampleAsync(settled: false);
        var gcPause = GC.GetTotalPauseDuration() - gcPauseBefore;
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
        var settled = await silo.SampleAsync(settled: true); // after the window: a forced collection pauses every tick
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
            gcPauseMsInWindow = silo.SeesTicks ? Math.Round(gcPause.TotalMilliseconds) : (double?)null,
            serverGc = silo.SeesTicks ? System.Runtime.GCSettings.IsServerGC : (bool?)null,
            workingSetBytesPerLease = (settled.WorkingSet - baseline.WorkingSet) / total,
            managedHeapBytesPerLease = settled.ManagedHeap is { } heap && baseline.ManagedHeap is { } before ? (heap - before) / total : (long?)null,
        };

        Output.Progress(settings.Json, "closing the leases...");
        await Parallel.ForEachAsync(readers, Parallelism(1000, cancellation), async (reader, _) => await reader.DisposeAsync());
        Console.WriteLine(settings.Json
            ? JsonSerializer.Serialize(result, Output.Json)
            : $"""
               {result.liveLeases} live leases, {result.leasesLost} lost, on {result.shards} shards ({result.mode})
               storage writes per shard per heartbeat interval: {result.storageWritesPerShardPerInterval}, {result.stateBytesPerWrite} B each ({result.stateBytesPerSync} B per heartbeat)
               heartbeat lateness {(silo.SeesTicks ? $"p50 {result.heartbeatLatenessP50Ms} ms, p99 {result.heartbeatLatenessP99Ms} ms, max {result.heartbeatLatenessMaxMs} ms ({result.heartbeatTicks} ticks)" : "seen with --in-process only")}
               silo CPU {result.siloCpuPercentOfOneCore}% of one core; {result.workingSetBytesPerLease} B working set per lease
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

    private sealed record Sample(DateTime At, TimeSpan? Cpu, double? CpuPercent, long WorkingSet, long? ManagedHeap)
    {
        /// <summary>CPU used between two samples, as a percentage of one core.</summary>
        public double? CpuPercentSince(Sample start) => Cpu is { } cpu && start.Cpu is { } before
            ? Math.Round(100 * (cpu - before).TotalSeconds / (At - start.At).TotalSeconds, 1)
            : CpuPercent is { } percent ? Math.Round(percent, 1) : null;
    }

    private interface ISiloProbe
    {
        string Mode { get; }

        /// <summary>The silo runs in this process: its meter, GC and ticks are visible here.</summary>
        bool SeesTicks => false;

        /// <summary>CPU and memory now; <paramref name="settled"/> first collects garbage (in this process), for
        /// memory figures that count live objects only.</summary>
        Task<Sample> SampleAsync(bool settled);
    }

    private sealed class ThisProcess : ISiloProbe
    {
        public string Mode => "in-process";

        public bool SeesTicks => true;

        public Task<Sample> SampleAsync(bool settled)
        {
            if (settled)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }
            using var process = Process.GetCurrentProcess();
            return Task.FromResult(new Sample(DateTime.UtcNow, process.TotalProcessorTime, null, process.WorkingSet64, GC.GetTotalMemory(false)));
        }
    }

    /// <summary>The one silo's runtime statistics (its own CPU and memory readings) through the management grain.</summary>
    private sealed class RemoteSilo(IClusterClient client) : ISiloProbe
    {
        public string Mode => "remote silo";

        public async Task<Sample> SampleAsync(bool settled)
        {
            var management = client.GetGrain<IManagementGrain>(0);
            var silos = await management.GetHosts(onlyActive: true);
            if (silos.Count != 1) throw new ArgumentException($"bench leases measures one silo; the cluster has {silos.Count} (use --in-process or a one-silo cluster)");
            var stats = (await management.GetRuntimeStatistics([.. silos.Keys]))[0].EnvironmentStatistics;
            // The silo's CPU reading is a percentage of the whole machine.
            return new Sample(DateTime.UtcNow, null, stats.FilteredCpuUsagePercentage * Environment.ProcessorCount, stats.RawMemoryUsageBytes, null);
        }
    }
}
