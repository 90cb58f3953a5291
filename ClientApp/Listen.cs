using System.Text.Json;

namespace Orleans.Leases.ClientApp;

/// <summary>Follows a shard: its snapshot as of a time (if asked), then each batch as it is written, until Ctrl-C.</summary>
internal static class Listen
{
    private static readonly JsonSerializerOptions Line = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static async Task<int> RunAsync(Cluster cluster, string shardId, ulong? asOf, bool json, CancellationToken cancellation)
    {
        var shard = new ShardId(shardId);
        await using var reader = await cluster.Shards.OpenReaderAsync(shard, new LeaseSettings { Purpose = "ClientApp listen" });
        // Without --as-of: from the latest time written (the shard's upper − 1), or from the start of an empty shard.
        var from = asOf ?? ((await cluster.Shards.InspectAsync(shard)).Upper is { IsEmpty: false, Time: > 0 } upper ? upper.Time - 1 : 0);
        var events = asOf is null ? reader.ListenAsync(from, new ListenOptions(), cancellation) : reader.SubscribeAsync(from, new ListenOptions(), cancellation);
        Output.Progress(json, $"listening to {shard.Value} from {from} (Ctrl-C stops)");
        try
        {
            await foreach (var e in events)
                Console.WriteLine(json ? JsonSerializer.Serialize(Describe(e), Line) : Format(e));
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C: the lease is closed below.
        }
        return 0;
    }

    private static object Describe(ListenEvent e) => e switch
    {
        ListenEvent.Updates u => new { @event = "updates", lower = Time(u.Lower), upper = Time(u.Upper), updates = u.Batch.Select(x => new { x.Key, x.Value, x.Time, x.Diff }) },
        ListenEvent.Progress p => new { @event = "progress", upper = Time(p.Upper) },
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    private static ulong? Time(Frontier f) => f.IsEmpty ? null : f.Time;

    private static string Format(ListenEvent e) => e switch
    {
        ListenEvent.Updates u => $"updates [{u.Lower.Time}, {(u.Upper.IsEmpty ? "∞" : u.Upper.Time)}): " +
                                 string.Join(", ", u.Batch.Select(x => $"{x.Key}={x.Value}@{x.Time} {x.Diff:+0;-0}")),
        ListenEvent.Progress p => $"progress {p.Upper}",
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };
}
