using System.Collections.Immutable;
using System.Diagnostics;

namespace Orleans.Leases;

/// <summary>What applications use: writes, snapshots and reads of shards, over the grain interfaces. Calls that are
/// safe to repeat are retried on transient errors by <paramref name="retry"/> (<see cref="RetryPolicy.Default"/> if
/// null).</summary>
public sealed partial class ShardClient(IGrainFactory grains, RetryPolicy? retry = null)
{
    private readonly RetryPolicy _retry = (retry ?? RetryPolicy.Default).Validated();

    /// <summary>How long one wait for upper may last before it is asked again, so a snapshot can wait as long as its
    /// caller allows. Short because a shard grain that deactivates gracefully (its silo stopping) waits for its running
    /// calls: a wait it cannot end (no append lands while it deactivates) would stall the shard for this long.</summary>
    internal static readonly TimeSpan WaitRound = TimeSpan.FromSeconds(2);

    public WriteHandle Writer(ShardId shard) => new(grains, shard, _retry);

    /// <summary>Opens a leased reader; see <see cref="ReadHandle.OpenAsync"/>.</summary>
    public Task<ReadHandle> OpenReaderAsync(ShardId shard, LeaseSettings? settings = null, ReaderId? reader = null) =>
        ReadHandle.OpenAsync(grains, shard, settings, reader, _retry);

    /// <summary>One part's updates, as stored (an inline part carries them).</summary>
    internal static Task<ImmutableArray<Update>> FetchPartAsync(IGrainFactory grains, PartRef part, RetryPolicy retry) =>
        part?.Inline is { } inline ? Task.FromResult(inline) : Transient.RetryAsync(() => grains.GetGrain<IPartWorkerGrain>(0).ReadPart(part!), default, retry);

    public Task<ShardInfo> InspectAsync(ShardId shard) => Transient.RetryAsync(Shard(shard).Inspect, default, _retry);

    /// <summary>
    /// The exact contents of <paramref name="shard"/> as of <paramref name="asOf"/> (≥ the shard's since), read under
    /// a short-lived lease so that no part is collected while it is read. Waits while the shard's upper is ≤ asOf, for
    /// as long as <paramref name="cancellation"/> allows.
    /// </summary>
    public async Task<ImmutableArray<(string Key, string Value, Int128 Diff)>> ReadAsync(ShardId shard, ulong asOf,
        CancellationToken cancellation = default)
    {
        await using var reader = await OpenReaderAsync(shard, new LeaseSettings { Purpose = "ShardClient.ReadAsync" });
        return await reader.ReadAsync(await reader.SnapshotAsync(asOf, cancellation));
    }

    internal static async Task<ImmutableArray<(string Key, string Value, Int128 Diff)>> ReadPartsAsync(
        IGrainFactory grains, IEnumerable<PartRef> parts, ulong asOf, RetryPolicy retry)
    {
        var updates = await Task.WhenAll(parts.Select(part => FetchPartAsync(grains, part, retry)));
        return Consolidation.AsOf(updates.SelectMany(u => u), asOf);
    }

    private IShardGrain Shard(ShardId shard) => grains.GetGrain<IShardGrain>(shard.Value);

    /// <summary>One bounded round (<see cref="WaitRound"/>) of waiting for the shard's upper to pass
    /// <paramref name="asOf"/>; returns early when it does, throws when <paramref name="cancellation"/> fires.
    /// Call it in a loop to wait longer than Orleans' response timeout.</summary>
    public static async Task WaitForUpperAsync(IShardGrain grain, ulong asOf, CancellationToken cancellation, RetryPolicy? retry = null)
    {
        using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        round.CancelAfter(WaitRound);
        try
        {
            await Transient.RetryAsync(() => grain.WaitForUpper(asOf, round.Token), round.Token, retry);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // The round ended, not the caller's patience: ask again.
        }
        cancellation.ThrowIfCancellationRequested();
    }
}

/// <summary>Appends to one shard.</summary>
public sealed class WriteHandle(IGrainFactory grains, ShardId shard, RetryPolicy? retry = null)
{
    private readonly RetryPolicy _retry = (retry ?? RetryPolicy.Default).Validated();

    public ShardId Shard { get; } = shard;

    /// <summary>
    /// Appends <paramref name="updates"/> (each with expectedUpper ≤ time &lt; newUpper) as the batch
    /// [expectedUpper, newUpper), if the shard's upper is <paramref name="expectedUpper"/>. Retrying with the same
    /// <paramref name="idempotencyKey"/> applies the batch once, so transient errors are retried here with the key
    /// (one is made when none is given); an attempt that landed answers Applied or AlreadyApplied to the retry.
    /// </summary>
    public Task<AppendResult> CompareAndAppendAsync(IEnumerable<Update> updates, Frontier expectedUpper,
        Frontier newUpper, string? idempotencyKey = null)
    {
        ImmutableArray<Update> batch = [.. updates];
        var key = idempotencyKey ?? Guid.NewGuid().ToString("N");
        var worker = grains.GetGrain<IPartWorkerGrain>(0);
        return LeasesTelemetry.TraceAsync("leases.append", Shard, async span =>
        {
            span?.SetTag("leases.updates", batch.Length);
            var result = await Transient.RetryAsync(() => worker.Append(Shard, batch, expectedUpper, newUpper, key), default, _retry);
            span?.SetTag("leases.outcome", result.Outcome.ToString());
            return result;
        }, ActivityKind.Client);
    }

    public async Task<Frontier> FetchUpperAsync() =>
        (await Transient.RetryAsync(grains.GetGrain<IShardGrain>(Shard.Value).Inspect, default, _retry)).Upper;
}
