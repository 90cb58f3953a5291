namespace Orleans.Leases.ClientApp;

/// <summary>A tour of a shard: append, a refused append, exact snapshots.</summary>
internal static class Demo
{
    public static async Task<int> RunAsync(Cluster cluster, CancellationToken cancellation)
    {
        var shards = cluster.Shards;
        var shard = new ShardId($"demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(1000):D3}");
        var writer = shards.Writer(shard);
        Console.WriteLine($"Shard {shard}");

        await Append(writer, [new("apple", "red", 0, 1), new("pear", "green", 1, 1), new("plum", "blue", 2, 2)], 0, 3);
        await Append(writer, [new("apple", "red", 3, -1), new("fig", "purple", 4, 1)], 3, 5);
        await Append(writer, [new("plum", "blue", 6, -1), new("pear", "green", 6, 1)], 5, 8);

        var stale = await writer.CompareAndAppendAsync([new("kiwi", "brown", 1, 1)], Frontier.At(1), Frontier.At(2));
        Console.WriteLine($"  append [1, 2) refused: {stale.Outcome}, the shard's upper is {stale.Upper}");

        foreach (var asOf in new ulong[] { 0, 2, 4, 7 })
        {
            var snapshot = await shards.SnapshotAsync(shard, asOf, cancellation);
            var contents = await shards.ReadAsync(snapshot);
            Console.WriteLine($"  as of {asOf} (state seqno {snapshot.SeqNo}, {snapshot.Parts.Length} parts): " +
                              string.Join(", ", contents.Select(c => $"{c.Key}={c.Value} x{c.Diff}")));
        }

        var info = await shards.InspectAsync(shard);
        Console.WriteLine($"  seqno {info.SeqNo}, since {info.Since}, upper {info.Upper}, {info.Batches} batches, {info.PartBytes} part bytes");
        return 0;
    }

    private static async Task Append(WriteHandle writer, Update[] updates, ulong lower, ulong upper)
    {
        var result = await writer.CompareAndAppendAsync(updates, Frontier.At(lower), Frontier.At(upper));
        if (result.Outcome != AppendOutcome.Applied)
            throw new InvalidOperationException($"append [{lower}, {upper}) was not applied: {result}");
        Console.WriteLine($"  appended [{lower}, {upper}): {updates.Length} updates, seqno {result.SeqNo}");
    }
}
