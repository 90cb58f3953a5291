using System.Diagnostics;
using System.Text.Json;

namespace Orleans.Leases.ClientApp;

/// <summary>
/// A writer appends while readers come and go: each opens, leases a snapshot, reads it, returns it, and then either
/// closes or dies without closing (its client stops answering pings). Storage must stay bounded.
/// </summary>
internal static class ChurnBench
{
    private static readonly LeaseSettings Lease = new() { LeaseDuration = TimeSpan.FromSeconds(2), Purpose = "bench churn" };

    public static async Task<int> RunAsync(Cluster cluster, int seconds, bool json, CancellationToken cancellation)
    {
        var client = cluster.Client;
        var shard = new ShardId($"bench-churn-{Guid.NewGuid():N}");
        var shardGrain = client.GetGrain<IShardGrain>(shard.Value);
        var writer = cluster.Shards.Writer(shard);
        var duration = TimeSpan.FromSeconds(seconds);
        Output.Progress(json, $"churn on {shard} for {seconds} s: 1 writer, a reader every 200 ms (lease 2 s), 1 in 3 dies without closing");

        var peak = new Figures();
        var opened = 0;
        var died = 0;
        var clock = Stopwatch.StartNew();
        var writing = Task.Run(async () =>
        {
            for (var t = 0UL; clock.Elapsed < duration; t++)
            {
                await writer.CompareAndAppendAsync([new($"key-{t % 50}", $"v{t}", t, 1)], Frontier.At(t), Frontier.At(t + 1));
                await Task.Delay(20, cancellation);
            }
        }, cancellation);
        var readers = new List<Task>();
        while (clock.Elapsed < duration)
        {
            var dies = ++opened % 3 == 0;
            if (dies) died++;
            readers.Add(ReadOnceAsync(client, shard, dies));
            await Task.Delay(200, cancellation);
            peak = peak.Max(await SampleAsync(shardGrain));
        }
        await writing;
        await Task.WhenAll(readers);

        // Dead readers' leases lapse within their duration; the shard sweeps and collects. Wait (up to 60 s) for it.
        var settling = Stopwatch.StartNew();
        var final = await SampleAsync(shardGrain);
        while ((final.Readers > 0 || final.RetiredBytes > 0) && settling.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(250, cancellation);
            final = await SampleAsync(shardGrain);
        }
        var result = new { seconds, readersOpened = opened, readersDied = died, peak, final, settledSeconds = Math.Round(settling.Elapsed.TotalSeconds, 1) };
        Console.WriteLine(json
            ? JsonSerializer.Serialize(result, Output.Json)
            : $"readers {opened} ({died} died): peak {peak}; final {final} after {result.settledSeconds} s");
        return 0;
    }

    private static async Task ReadOnceAsync(IClusterClient client, ShardId shard, bool dies)
    {
        // A reader built from the public grain API, so that it can die: its observer is dropped without closing.
        var secret = ReaderSecret.New();
        var pinged = new Pinged(secret.Hash());
        var observer = client.CreateObjectReference<IReaderClient>(pinged);
        var lease = client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, ReaderId.NewId()));
        await lease.Open(secret, Lease, observer);
        var asOf = await UpperMinusOne(client, shard);
        if (await lease.Snapshot(secret, asOf) is { } leased)
        {
            pinged.Holds = pinged.Holds with { Leases = [leased.LeaseId], Leasing = false };
            var worker = client.GetGrain<IPartWorkerGrain>(0);
            await Task.WhenAll(leased.Parts.Select(worker.ReadPart));
            if (!dies) await lease.ReturnLease(secret, leased.LeaseId);
        }
        if (!dies) await lease.Expire(secret);
        client.DeleteObjectReference<IReaderClient>(observer);
        GC.KeepAlive(pinged);
    }

    private static async Task<ulong> UpperMinusOne(IClusterClient client, ShardId shard)
    {
        var upper = (await client.GetGrain<IShardGrain>(shard.Value).Inspect()).Upper;
        return upper.Time == 0 ? 0 : upper.Time - 1;
    }

    private static async Task<Figures> SampleAsync(IShardGrain shard)
    {
        var info = await shard.Inspect();
        return new Figures(info.PartBytes, info.RetiredBytes, info.RetainedSeqNos, info.Readers, info.Batches);
    }

    private sealed record Figures(long LiveBytes = 0, long RetiredBytes = 0, ulong RetainedSeqNos = 0, int Readers = 0, int Batches = 0)
    {
        public Figures Max(Figures other) => new(Math.Max(LiveBytes, other.LiveBytes), Math.Max(RetiredBytes, other.RetiredBytes),
            Math.Max(RetainedSeqNos, other.RetainedSeqNos), Math.Max(Readers, other.Readers), Math.Max(Batches, other.Batches));
    }

    /// <summary>Answers what this reader holds, as a ReadHandle does.</summary>
    private sealed class Pinged(string secretHash) : IReaderClient
    {
        public ClientHolds Holds { get; set; } = new(Frontier.Minimum, [], Leasing: true, secretHash); // until its lease id is known

        public Task<ClientHolds> Ping() => Task.FromResult(Holds);
    }

}
