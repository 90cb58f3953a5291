using System.Diagnostics;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// Appends/s on one shard with N concurrent writers, and beside it the storage ceilings measured in the same run
/// with the same concurrency: raw part uploads/s, sequential ETag writes/s of one update, and of a blob the size of
/// the shard's state at the end (each append writes the state).
/// </summary>
internal static class AppendBench
{
    public sealed record Settings(int Writers, int Seconds, bool Json);

    /// <summary>Hosts the silo in this process: the writers call it without a client's network hop.</summary>
    public static Task<int> RunInProcessAsync(Settings settings, CancellationToken cancellation) =>
        InProcessSilo.RunAsync(settings.Json, cancellation, silo =>
            RunAsync(new ShardClient(silo.GetRequiredService<IClusterClient>()), settings, cancellation));

    public static async Task<int> RunAsync(ShardClient shards, Settings settings, CancellationToken cancellation)
    {
        var (writers, seconds, json) = settings;
        var duration = TimeSpan.FromSeconds(seconds);
        // A ceiling is a rate: ten seconds measure it, and a long run stays about the appends.
        var ceiling = TimeSpan.FromSeconds(Math.Min(seconds, 10));
        var payload = JsonSerializer.SerializeToUtf8Bytes(new[] { new Update("key-000000", "value", 0, 1) });

        // The ceilings first, on an idle store, beside the parts container in scratch containers. The uploads' is
        // deleted before the appends start: an in-memory Azurite holding thousands more blobs serves everything
        // several times slower (32 writers: 215 appends/s after 30 s of uploads kept, 980/s after 10 s).
        Output.Progress(json, $"raw part uploads, {writers} concurrent, {ceiling.TotalSeconds} s...");
        var uploads = ScratchContainer();
        await uploads.CreateIfNotExistsAsync(cancellationToken: cancellation);
        var uploadsPerSecond = await RawUploadsAsync(uploads, payload, writers, ceiling);
        await uploads.DeleteIfExistsAsync(cancellationToken: cancellation);

        Output.Progress(json, $"sequential ETag writes, {ceiling.TotalSeconds} s...");
        var scratch = ScratchContainer(); // one blob, rewritten
        await scratch.CreateIfNotExistsAsync(cancellationToken: cancellation);
        var etagWritesPerSecond = await SequentialEtagWritesAsync(scratch, payload, ceiling);
        Output.Progress(json, $"appends, {writers} concurrent writers on one shard, {seconds} s...");
        var appends = await AppendsAsync(shards, writers, duration);
        // One shard's own ceiling: its state is bigger than the one-update payload above, and every append writes it.
        Output.Progress(json, $"sequential ETag writes of a state-sized blob ({appends.StateBytes} B), {ceiling.TotalSeconds} s...");
        var stateSizedWritesPerSecond = await SequentialEtagWritesAsync(scratch, new byte[Math.Max(1, appends.StateBytes)], ceiling);
        await scratch.DeleteIfExistsAsync(cancellationToken: cancellation);

        var result = new
        {
            writers,
            seconds,
            appendsPerSecond = Math.Round(appends.PerSecond, 1),
            stateWritesPerAppend = Math.Round(appends.StateWritesPerAppend, 4),
            appendP50Ms = Math.Round(appends.P50Ms, 2),
            appendP99Ms = Math.Round(appends.P99Ms, 2),
            appendsApplied = appends.Applied,
            appendsRefused = appends.Refused,
            rawPartUploadsPerSecond = Math.Round(uploadsPerSecond, 1),
            sequentialEtagWritesPerSecond = Math.Round(etagWritesPerSecond, 1),
            appendsVsRawUploads = Math.Round(appends.PerSecond / uploadsPerSecond, 3),
            appendsVsEtagWrites = Math.Round(appends.PerSecond / etagWritesPerSecond, 3),
            stateSizedEtagWritesPerSecond = Math.Round(stateSizedWritesPerSecond, 1),
            appendsVsStateSizedEtagWrites = Math.Round(appends.PerSecond / stateSizedWritesPerSecond, 3),
            windowSeconds = appends.WindowSeconds,
            firstWindowAppendsPerSecond = Math.Round(appends.FirstWindowPerSecond, 1),
            lastWindowAppendsPerSecond = Math.Round(appends.LastWindowPerSecond, 1),
            lastVsFirstWindow = Math.Round(appends.LastWindowPerSecond / Math.Max(appends.FirstWindowPerSecond, 1e-9), 3),
            batches = appends.Info.Batches,
            parts = appends.Info.Parts,
            inlineBytes = appends.Info.InlineBytes,
            partBytes = appends.Info.PartBytes,
            stateBytes = appends.StateBytes,
        };
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, Output.Json));
        }
        else
        {
            Console.WriteLine($"appends/s {result.appendsPerSecond} ({result.appendsVsRawUploads:P0} of raw uploads/s " +
                              $"{result.rawPartUploadsPerSecond}, {result.appendsVsEtagWrites:P0} of sequential ETag writes/s " +
                              $"{result.sequentialEtagWritesPerSecond}, {result.appendsVsStateSizedEtagWrites:P0} of state-sized ones " +
                              $"{result.stateSizedEtagWritesPerSecond}), state writes/append {result.stateWritesPerAppend}, " +
                              $"p50 {result.appendP50Ms} ms, p99 {result.appendP99Ms} ms");
            Console.WriteLine($"first {result.windowSeconds} s {result.firstWindowAppendsPerSecond}/s, last {result.windowSeconds} s " +
                              $"{result.lastWindowAppendsPerSecond}/s ({result.lastVsFirstWindow:P0}); at the end {result.batches} batches, " +
                              $"{result.parts} parts, {result.inlineBytes} of {result.partBytes} bytes inline, state {result.stateBytes} B");
        }
        return appends.Refused == 0 ? 0 : 1;
    }

    private sealed record AppendFigures(double PerSecond, double StateWritesPerAppend, double P50Ms, double P99Ms, long Applied,
        long Refused, int WindowSeconds, double FirstWindowPerSecond, double LastWindowPerSecond, ShardInfo Info, long StateBytes);

    /// <summary>Writers share one sequence of slots: slot t is the batch [t, t+1), so every append can succeed and
    /// in-flight appends pipeline.</summary>
    private static async Task<AppendFigures> AppendsAsync(ShardClient shards, int writers, TimeSpan duration)
    {
        var shard = new ShardId($"bench-append-{Guid.NewGuid():N}");
        var writer = shards.Writer(shard);
        long nextSlot = -1, applied = 0, refused = 0;
        var latencies = new List<double>[writers];
        var perSecond = new long[(int)duration.TotalSeconds + 2]; // appends applied in each second of the run
        var clock = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, writers).Select(async w =>
        {
            var mine = latencies[w] = [];
            while (clock.Elapsed < duration)
            {
                var slot = (ulong)Interlocked.Increment(ref nextSlot);
                var started = Stopwatch.GetTimestamp();
                var result = await writer.CompareAndAppendAsync(
                    [new Update($"key-{slot:D6}", "value", slot, 1)], Frontier.At(slot), Frontier.At(slot + 1));
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Increment(ref result.Outcome == AppendOutcome.Applied ? ref applied : ref refused);
                if (result.Outcome == AppendOutcome.Applied)
                    Interlocked.Increment(ref perSecond[Math.Min((int)clock.Elapsed.TotalSeconds, perSecond.Length - 1)]);
            }
        }));
        var elapsed = clock.Elapsed.TotalSeconds;

        var info = await shards.InspectAsync(shard);
        var sorted = latencies.SelectMany(l => l).Order().ToArray();
        // Whether cost grows with history: the first and the last minute (half the run when shorter than two minutes).
        var window = Math.Max(1, Math.Min(60, (int)duration.TotalSeconds / 2));
        var seconds = (int)duration.TotalSeconds;
        return new AppendFigures(applied / elapsed, (double)info.Counters.StateWrites / Math.Max(1, applied),
            Percentile(sorted, 0.50), Percentile(sorted, 0.99), applied, refused, window,
            perSecond[..window].Sum() / (double)window, perSecond[(seconds - window)..seconds].Sum() / (double)window,
            info, await ConfiguredStorage.MeanStateBytesAsync(shard.Value, default));
    }

    private static async Task<double> RawUploadsAsync(BlobContainerClient container, byte[] payload, int concurrency, TimeSpan duration)
    {
        var prefix = $"bench-raw-{Guid.NewGuid():N}";
        long uploads = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (clock.Elapsed < duration)
            {
                await container.GetBlobClient($"{prefix}/{Guid.NewGuid():N}.json").UploadAsync(new BinaryData(payload), overwrite: false);
                Interlocked.Increment(ref uploads);
            }
        }));
        return uploads / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> SequentialEtagWritesAsync(BlobContainerClient container, byte[] payload, TimeSpan duration)
    {
        var blob = container.GetBlobClient($"bench-etag-{Guid.NewGuid():N}.json");
        ETag etag = (await blob.UploadAsync(new BinaryData(payload))).Value.ETag;
        long writes = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var options = new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = etag } };
            etag = (await blob.UploadAsync(new BinaryData(payload), options)).Value.ETag;
            writes++;
        }
        return writes / clock.Elapsed.TotalSeconds;
    }

    private static BlobContainerClient ScratchContainer() =>
        ConfiguredStorage.Blobs().GetBlobContainerClient($"bench-scratch-{Guid.NewGuid():N}");

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? 0 : Quantile.Of(sorted, q);
}
