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
            var contents = await shards.ReadAsync(shard, asOf, cancellation);
            Console.WriteLine($"  as of {asOf}: " +
                              string.Join(", ", contents.Select(c => $"{c.Key}={c.Value} x{c.Diff}")));
        }

        var info = await shards.InspectAsync(shard);
        Console.WriteLine($"  seqno {info.SeqNo}, since {info.Since}, upper {info.Upper}, {info.Batches} batches, {info.PartBytes} part bytes");

        await ReaderLifecycleAsync(shards, shard, writer, cancellation);
        return 0;
    }

    /// <summary>A reader opens, its client blocks in a snapshot for twice its lease, its holds keep moving, and the
    /// lease ends.</summary>
    private static async Task ReaderLifecycleAsync(ShardClient shards, ShardId shard, WriteHandle writer, CancellationToken cancellation)
    {
        var settings = new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(5), HeartbeatInterval = TimeSpan.FromSeconds(1), Purpose = "demo" };
        var reader = await shards.OpenReaderAsync(shard, settings);
        Console.WriteLine($"Reader {reader.Reader} opened: lease {settings.LeaseDuration.TotalSeconds} s, heartbeat {settings.EffectiveHeartbeatInterval.TotalMilliseconds} ms");
        await reader.DowngradeSinceAsync(Frontier.At(4));

        const ulong asOf = 20;
        // A subscriber follows the writer meanwhile: the snapshot as of 7, then each batch as it lands.
        await using var subscriber = await shards.OpenReaderAsync(shard, settings with { Purpose = "demo subscriber" });
        using var stopFollowing = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var following = FollowAsync(subscriber, 7, asOf + 1, stopFollowing.Token);
        Console.WriteLine($"  the client blocks in a snapshot as of {asOf} (upper is 8) for 10 s, twice its lease, while a writer appends:");
        var snapshot = reader.SnapshotAsync(asOf, cancellation);
        var upper = 8UL;
        for (var second = 1; second <= 10; second++, upper++)
        {
            await writer.CompareAndAppendAsync([new("tick", "t", upper, 1)], Frontier.At(upper), Frontier.At(upper + 1));
            await Task.Delay(1000, cancellation);
            var lease = await reader.InspectAsync();
            var now = await shards.InspectAsync(shard);
            Console.WriteLine($"    {second} s: shard seqno {now.SeqNo}, reader seqno hold {lease.Durable!.SeqNoHold}, " +
                              $"since {lease.Durable.Since}, {lease.Syncs} syncs, lease live: {lease.IsLive}");
        }
        await writer.CompareAndAppendAsync([new("done", "d", upper, 1)], Frontier.At(upper), Frontier.At(asOf + 1));
        var leased = await snapshot;
        var contents = await reader.ReadAsync(leased);
        Console.WriteLine($"  the snapshot as of {asOf} arrived: lease {leased.LeaseId} on seqno {leased.SeqNo}, " +
                          $"{contents.Aggregate(Int128.Zero, (sum, c) => sum + c.Diff)} records in {leased.Parts.Length} parts");
        await reader.ReturnLeaseAsync(leased);
        Console.WriteLine($"  the subscriber had every batch: {await following} updates, progress {asOf + 1}");
        await subscriber.DisposeAsync();

        await reader.ExpireAsync();
        try
        {
            await reader.DowngradeSinceAsync(Frontier.At(5));
        }
        catch (LeaseExpiredException expired)
        {
            Console.WriteLine($"  closed; a later call fails: {expired.Message}");
        }
        var after = await shards.InspectAsync(shard);
        Console.WriteLine($"  shard: seqno {after.SeqNo}, since {after.Since}, readers {after.Readers}, seqno_since {after.SeqNoSince}");
    }

    /// <summary>Prints a subscription's events until its progress reaches <paramref name="until"/>; answers the
    /// number of updates it had.</summary>
    private static async Task<int> FollowAsync(ReadHandle subscriber, ulong asOf, ulong until, CancellationToken cancellation)
    {
        var updates = 0;
        await foreach (var e in subscriber.SubscribeAsync(asOf, new ListenOptions(), cancellation))
        {
            switch (e)
            {
                case ListenEvent.Updates batch:
                    updates += batch.Batch.Length;
                    Console.WriteLine($"    subscriber: [{batch.Lower.Time}, {batch.Upper.Time}) " +
                                      string.Join(", ", batch.Batch.Select(u => $"{u.Key}={u.Value}@{u.Time} {u.Diff:+0;-0}")));
                    break;
                case ListenEvent.Progress { Upper: var upper } when !upper.Contains(until - 1):
                    return updates;
            }
        }
        return updates;
    }

    private static async Task Append(WriteHandle writer, Update[] updates, ulong lower, ulong upper)
    {
        var result = await writer.CompareAndAppendAsync(updates, Frontier.At(lower), Frontier.At(upper));
        if (result.Outcome != AppendOutcome.Applied)
            throw new InvalidOperationException($"append [{lower}, {upper}) was not applied: {result}");
        Console.WriteLine($"  appended [{lower}, {upper}): {updates.Length} updates, seqno {result.SeqNo}");
    }
}
