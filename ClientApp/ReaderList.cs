using System.Text.Json;

namespace Orleans.Leases.ClientApp;

/// <summary>A shard's leased readers: the holds the shard has durably, and where each lease grain runs.</summary>
internal static class ReaderList
{
    public static async Task<int> RunAsync(Cluster cluster, string shardId, bool json)
    {
        var shard = new ShardId(shardId).Validated();
        var shardGrain = cluster.Client.GetGrain<IShardGrain>(shard.Value);
        var readers = new List<object>();
        foreach (var reader in await shardGrain.ReaderIds())
        {
            if (await shardGrain.ReaderStatus(reader) is not { } status) continue; // closed meanwhile
            var lease = await cluster.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader)).Inspect();
            readers.Add(new
            {
                reader = reader.Value,
                purpose = status.Settings.Purpose,
                since = status.Since,
                seqNoHold = status.SeqNoHold,
                seqNoLag = status.ShardSeqNo - status.SeqNoHold,
                lastHeartbeat = status.LastHeartbeat,
                leaseSeconds = status.Settings.LeaseDuration.TotalSeconds,
                heartbeatSeconds = status.Settings.EffectiveHeartbeatInterval.TotalSeconds,
                outstandingLeases = status.Leases.Count,
                live = lease.IsLive,
                silo = lease.Silo,
                syncs = lease.Syncs,
            });
            if (!json)
                Console.WriteLine($"{reader.Value} ({status.Settings.Purpose}): since {status.Since}, seqno hold {status.SeqNoHold} " +
                                  $"(lag {status.ShardSeqNo - status.SeqNoHold}), {status.Leases.Count} leased snapshots, " +
                                  $"last heartbeat {status.LastHeartbeat:O}, lease {status.Settings.LeaseDuration.TotalSeconds} s, " +
                                  $"{(lease.IsLive ? "live" : "ended")} on {lease.Silo}");
        }
        if (json) Console.WriteLine(JsonSerializer.Serialize(new { shard = shard.Value, readers }, Output.Json));
        else if (readers.Count == 0) Console.WriteLine($"shard {shard}: no leased readers");
        return 0;
    }
}
