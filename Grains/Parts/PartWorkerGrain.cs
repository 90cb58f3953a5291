using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;

namespace Orleans.Leases.Parts;

// Reentrant: it holds no state, and a pipelined append waits on its predecessors, which must not queue behind it.
[GrainType("leases.part-worker")]
[StatelessWorker, Reentrant]
internal sealed partial class PartWorkerGrain(
    PartStore parts,
    IOptions<ShardServiceOptions> options,
    ServiceMetrics metrics,
    ILogger<PartWorkerGrain> logger) : Grain, IPartWorkerGrain
{
    public Task<AppendResult> Append(ShardId shard, ImmutableArray<Update> updates, Frontier expectedUpper,
        Frontier newUpper, string idempotencyKey)
    {
        shard = shard.Validated();
        Validate(updates, expectedUpper, newUpper, idempotencyKey);
        return LeasesTelemetry.TraceAsync("leases.append.write", shard, async span =>
        {
            var started = Stopwatch.GetTimestamp();
            var result = await Write(shard, updates, expectedUpper, newUpper, idempotencyKey, span);
            metrics.AppendDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
            return result;
        });
    }

    private async Task<AppendResult> Write(ShardId shard, ImmutableArray<Update> updates, Frontier expectedUpper,
        Frontier newUpper, string idempotencyKey, Activity? span)
    {
        var appends = GrainFactory.GetGrain<IShardAppends>(shard.Value);
        if (updates.Length == 0) return await appends.CompareAndAppend(new Batch(expectedUpper, newUpper, [], idempotencyKey), expectedUpper);
        var encoded = parts.Encode(updates);
        if (encoded.Length > options.Value.MaxBatchBytes)
            throw new PayloadTooLargeException(encoded.Length, options.Value.MaxBatchBytes);

        span?.SetTag("leases.bytes", encoded.Length);
        if (encoded.Length <= options.Value.InlineWriteMaxBytes)
        {
            span?.SetTag("leases.inline", true);
            try
            {
                var inline = PartStore.Inline(shard, updates, encoded.Length);
                return await appends.CompareAndAppend(new Batch(expectedUpper, newUpper, [inline], idempotencyKey), expectedUpper);
            }
            catch (InlineFullException)
            {
                // The shard holds its share of inline bytes: store this batch as a part.
            }
        }

        // Part first, state second (as in Persist): the state never names a part that is not stored.
        span?.SetTag("leases.inline", false);
        var part = await parts.WriteAsync(shard, encoded, updates.Length);
        AppendResult result;
        try
        {
            result = await appends.CompareAndAppend(new Batch(expectedUpper, newUpper, [part], idempotencyKey), expectedUpper);
        }
        catch (InvalidInputException)
        {
            await Delete(part); // refused: the state will never name it
            throw;
        }
        // Any other failure (storage in doubt, timeout, silo lost) may still end with the batch applied, so its part
        // stays; a retry with the same key answers, and the orphan scan deletes it if it never landed.
        if (result.Outcome != AppendOutcome.Applied) await Delete(part);
        return result;
    }

    public Task<ImmutableArray<Update>> ReadPart(PartRef part) => parts.ReadAsync(part);

    private static void Validate(ImmutableArray<Update> updates, Frontier expectedUpper, Frontier newUpper, string idempotencyKey)
    {
        if (AppendRules.BatchError(expectedUpper, newUpper, idempotencyKey) is { } error) throw new InvalidAppendException(error);
        if (updates.IsDefault)
            throw new InvalidAppendException("The updates are missing.");
        foreach (var update in updates)
        {
            if (update is null || update.Key is null || update.Value is null)
                throw new InvalidAppendException("An update, or its key or value, is null.");
            if (!expectedUpper.Contains(update.Time) || newUpper.Contains(update.Time))
                throw new InvalidAppendException(
                    $"Update time {update.Time} is outside the batch [{expectedUpper.Time}, {newUpper}).");
        }
    }

    private async Task Delete(PartRef part)
    {
        try
        {
            await parts.DeleteAsync(part);
        }
        catch (Exception error)
        {
            // Unreferenced, so harmless but for its bytes; orphan collection finds it later.
            LogOrphaned(logger, error, part.Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not delete unreferenced part {Part}")]
    private static partial void LogOrphaned(ILogger logger, Exception error, string part);
}
