using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;

namespace Orleans.Leases.Parts;

/// <summary>
/// Compaction and garbage collection for one shard (keyed by shard id). Reads and writes blobs here, so the shard
/// keeps serving; every change to the shard's state is one command the shard checks against its current state.
/// </summary>
[GrainType("leases.compactor")]
internal sealed partial class CompactorGrain(
    PartStore parts,
    IOptions<ShardServiceOptions> options,
    TimeProvider time,
    Callers callers,
    ILogger<CompactorGrain> logger) : Grain, ICompactorGrain, IIncomingGrainCallFilter
{
    /// <summary>Compactions per run, so one run stays short; the next change starts another.</summary>
    private const int MaxCompactionsPerRun = 8;

    /// <summary>Runs only when its own shard asks (S8).</summary>
    public async Task Invoke(IIncomingGrainCallContext call)
    {
        if (Callers.IsCallTo<ICompactorGrain>(call))
            await callers.RequireAsync(call, GrainFactory.GetGrain<IShardGrain>(this.GetPrimaryKeyString()).GetGrainId(), "its shard");
        await call.Invoke();
    }

    public async Task<MaintenanceReport> Run(bool scanOrphans)
    {
        var shardId = new ShardId(this.GetPrimaryKeyString());
        var shard = GrainFactory.GetGrain<IShardMaintenance>(shardId.Value);

        var compactions = 0;
        for (var plan = await shard.MaintenancePlan(); !plan.CompactRun.IsEmpty && compactions < MaxCompactionsPerRun; plan = await shard.MaintenancePlan())
        {
            if (!await CompactAsync(shardId, shard, plan)) break;
            compactions++;
        }

        var deleted = await CollectGarbageAsync(shardId, shard);
        var orphans = scanOrphans ? await DeleteOrphansAsync(shardId, shard) : 0;
        return new MaintenanceReport(compactions, deleted, orphans);
    }

    private Task<bool> CompactAsync(ShardId shardId, IShardMaintenance shard, MaintenancePlan plan) =>
        LeasesTelemetry.TraceAsync("leases.compaction", shardId, async span =>
        {
            var updates = await Task.WhenAll(plan.CompactRun.SelectMany(b => b.Parts).Select(parts.ReadAsync));
            var merged = Consolidation.Merge(updates.SelectMany(u => u), plan.Since);
            span?.SetTag("leases.batches", plan.CompactRun.Length);
            span?.SetTag("leases.updates_in", updates.Sum(u => u.Length));
            span?.SetTag("leases.updates_out", merged.Length);
            ImmutableArray<PartRef> written = merged.IsEmpty ? [] : [await parts.WriteAsync(shardId, parts.Encode(merged), merged.Length)];
            if (await shard.CompactBatches(plan.CompactRun, written)) return true;

            // The run changed under us (another compaction won): our part was never referenced.
            span?.SetTag("leases.superseded", true);
            foreach (var part in written) await parts.DeleteAsync(part);
            return false;
        });

    /// <summary>Deletes the parts no hold protects, then tells the shard. A crash in between is harmless: the parts
    /// stay garbage, and deleting a deleted blob succeeds.</summary>
    private async Task<int> CollectGarbageAsync(ShardId shardId, IShardMaintenance shard)
    {
        var garbage = (await shard.MaintenancePlan()).Garbage;
        if (garbage.IsEmpty) return 0;
        return await LeasesTelemetry.TraceAsync("leases.gc", shardId, async span =>
        {
            span?.SetTag("leases.parts", garbage.Length);
            await Task.WhenAll(garbage.Select(parts.DeleteAsync));
            return await shard.ForgetDeletedParts([.. garbage.Select(p => p.Name)]);
        });
    }

    /// <summary>Deletes part blobs the state does not name and that are too old to belong to an append in flight.</summary>
    private async Task<int> DeleteOrphansAsync(ShardId shardId, IShardMaintenance shard)
    {
        var referenced = await shard.ReferencedParts();
        var oldest = time.GetUtcNow() - options.Value.OrphanMinAge;
        var deleted = 0;
        await foreach (var (part, created) in parts.ListAsync(shardId))
        {
            if (referenced.Contains(part.Name) || created > oldest) continue;
            await parts.DeleteAsync(part);
            LogOrphanDeleted(logger, part.Name);
            deleted++;
        }
        return deleted;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted orphaned part {Part}")]
    private static partial void LogOrphanDeleted(ILogger logger, string part);
}
