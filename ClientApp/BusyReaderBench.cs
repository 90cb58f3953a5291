using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// The seed's scenario: a reader whose client blocks in a snapshot for 5× its lease while a writer appends and the
/// client's progress keeps asking for since downgrades; the lease grain's timer heartbeats and downgrades. The shard
/// has a second, idle reader holding the shard's since, so the busy reader's downgrades change nothing for others
/// (the wake policy should not wake for them).
/// </summary>
internal static class BusyReaderBench
{
    private const int AppendsPerSecond = 20;

    public static async Task<int> RunAsync(Cluster cluster, double leaseSeconds, bool json, CancellationToken cancellation)
    {
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(leaseSeconds), Purpose = "bench busy-reader" };
        var blocked = 5 * settings.LeaseDuration;
        Output.Progress(json, $"lease {leaseSeconds} s, client blocked {blocked.TotalSeconds} s, {AppendsPerSecond} appends/s");

        var r = await RunAsync(cluster, new LeaseGrainReader(cluster.Shards, settings), settings, blocked, cancellation);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { leaseSeconds, blockedSeconds = blocked.TotalSeconds, result = r },
                Output.Json));
        }
        else
        {
            Console.WriteLine($"lease lost {r.LeaseLost,-5}  max seqno lag {r.MaxSeqNoLag,4}  max since lag {r.MaxSinceLag,4}  " +
                                  $"storage writes {r.StorageWrites,4}  wakeups {r.Wakeups,3}  wakeups/downgrade {r.WakeupsPerSinceDowngrade:0.000}  " +
                                  $"retired bytes peak {r.PeakRetiredBytes} final {r.FinalRetiredBytes}  retained seqnos peak {r.PeakRetainedSeqNos} final {r.FinalRetainedSeqNos}");
        }
        return 0;
    }

    private sealed record Result(string Shard, bool LeaseLost, ulong MaxSeqNoLag, ulong MaxSinceLag, long StorageWrites,
        long Wakeups, long SinceDowngrades, double WakeupsPerSinceDowngrade, long PeakRetiredBytes, long FinalRetiredBytes,
        ulong PeakRetainedSeqNos, ulong FinalRetainedSeqNos);

    private static async Task<Result> RunAsync(Cluster cluster, LeaseGrainReader reader,
        LeaseSettings settings, TimeSpan blocked, CancellationToken cancellation)
    {
        var shard = new ShardId($"bench-busy-{Guid.NewGuid():N}");
        var shardGrain = cluster.Client.GetGrain<IShardGrain>(shard.Value);
        var writer = cluster.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([new("start", "s", 0, 1)], Frontier.At(0), Frontier.At(1));
        await using var anchor = await cluster.Shards.OpenReaderAsync(shard, settings);
        await reader.OpenAsync(shard);
        var writesBefore = (await shardGrain.Inspect()).Counters.StateWrites;

        // The client asks for a snapshot far ahead and blocks in it.
        const ulong farAhead = 1_000_000;
        var snapshot = reader.SnapshotAsync(farAhead, cancellation);

        ulong upper = 1, maxSeqNoLag = 0, maxSinceLag = 0, peakRetained = 0;
        long peakRetiredBytes = 0;
        var leaseLost = false;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < blocked)
        {
            await writer.CompareAndAppendAsync([new("tick", "t", upper, 1)], Frontier.At(upper), Frontier.At(upper + 1));
            upper++;
            reader.RequestSince(Frontier.At(upper - 1)); // the client's progress: it no longer needs older times
            await Task.Delay(1000 / AppendsPerSecond, cancellation);

            var info = await shardGrain.Inspect();
            peakRetained = Math.Max(peakRetained, info.RetainedSeqNos);
            peakRetiredBytes = Math.Max(peakRetiredBytes, info.RetiredBytes);
            var status = await shardGrain.ReaderStatus(reader.Id);
            if (status is null) { leaseLost = true; continue; }
            maxSeqNoLag = Math.Max(maxSeqNoLag, info.SeqNo - status.SeqNoHold);
            maxSinceLag = Math.Max(maxSinceLag, reader.RequestedSince.Time - status.Since.Time);
        }
        await writer.CompareAndAppendAsync([new("end", "e", upper, 1)], Frontier.At(upper), Frontier.At(farAhead + 1));
        try
        {
            await reader.ReturnAsync(await snapshot);
        }
        catch (LeaseExpiredException)
        {
            leaseLost = true;
        }
        var writes = (await shardGrain.Inspect()).Counters.StateWrites - writesBefore;
        var (wakeups, downgrades) = await reader.WakeupsAsync();

        // Both readers close; what the shard still holds after that (up to 30 s for maintenance) is the final figure.
        await reader.DisposeAsync();
        await anchor.DisposeAsync();
        var settling = Stopwatch.StartNew();
        var final = await shardGrain.Inspect();
        while (final.RetiredBytes > 0 && settling.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250, cancellation);
            final = await shardGrain.Inspect();
        }
        return new Result(shard.Value, leaseLost, maxSeqNoLag, maxSinceLag, writes, wakeups, downgrades,
            downgrades == 0 ? 0 : Math.Round((double)wakeups / downgrades, 4),
            Math.Max(peakRetiredBytes, final.RetiredBytes), final.RetiredBytes, Math.Max(peakRetained, final.RetainedSeqNos), final.RetainedSeqNos);
    }

    /// <summary>Downgrades go to the lease grain, whose timer makes them durable.</summary>
    private sealed class LeaseGrainReader(ShardClient shards, LeaseSettings settings) : IAsyncDisposable
    {
        private ReadHandle _handle = null!;
        private Task _downgrades = Task.CompletedTask;

        public ReaderId Id => _handle.Reader;
        public Frontier RequestedSince { get; private set; }

        public async Task OpenAsync(ShardId shard) => _handle = await shards.OpenReaderAsync(shard, settings);

        // Another task of the client asks while its main task is blocked; the call returns without storage I/O.
        public void RequestSince(Frontier since)
        {
            RequestedSince = since;
            _downgrades = _downgrades.ContinueWith(_ => _handle.DowngradeSinceAsync(since)).Unwrap();
        }

        public Task<LeasedSnapshot> SnapshotAsync(ulong asOf, CancellationToken cancellation) => _handle.SnapshotAsync(asOf, cancellation);

        public Task ReturnAsync(LeasedSnapshot snapshot) => _handle.ReturnLeaseAsync(snapshot);

        public async Task<(long, long)> WakeupsAsync()
        {
            await _downgrades;
            var info = await _handle.InspectAsync();
            return (info.Wakeups, info.SinceDowngrades);
        }

        public ValueTask DisposeAsync() => _handle.DisposeAsync();
    }
}
