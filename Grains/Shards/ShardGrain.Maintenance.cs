using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Leases.Parts;

namespace Orleans.Leases.Shards;

// Maintenance: the shard decides when, its ICompactorGrain does the blob work off this grain's turn.
internal sealed partial class ShardGrain
{
    private bool _maintaining;
    private DateTimeOffset _lastOrphanScan; // set at activation: the first scan comes one interval later

    private CompactionPolicy Policy =>
        new(options.Value.CompactionFanout, options.Value.CompactionMinBatches, options.Value.InlineWritesTotalMaxBytes / 2);

    public Task<MaintenancePlan> MaintenancePlan() => Task.FromResult(new MaintenancePlan(
        _committed.CompactionCandidates(Policy), _committed.Since, _committed.Garbage()));

    public Task<bool> CompactBatches(ImmutableArray<Batch> replaced, ImmutableArray<PartRef> parts)
    {
        PartStore.CheckPartsOf(Id, parts);
        return Submit(new CompactBatches(replaced, parts));
    }

    public async Task<int> ForgetDeletedParts(ImmutableArray<string> names)
    {
        var forgotten = await Submit(new ForgetDeletedParts(names));
        _partsDeleted += forgotten;
        return forgotten;
    }

    public Task<ImmutableHashSet<string>> ReferencedParts() => Task.FromResult(_committed.ReferencedParts().ToImmutableHashSet());

    /// <summary>Starts a maintenance run if there is work and none is running: a run of batches to compact, garbage
    /// to delete, or an orphan scan due.</summary>
    private void MaybeStartMaintenance()
    {
        if (_maintaining) return;
        var now = time.GetUtcNow();
        var scanOrphans = now - _lastOrphanScan >= options.Value.OrphanScanInterval && !_committed.Batches.IsEmpty;
        if (!scanOrphans && _committed.CompactionCandidates(Policy).IsEmpty && _committed.Garbage().IsEmpty) return;
        if (scanOrphans) _lastOrphanScan = now;
        _maintaining = true;
        _ = RunMaintenance(scanOrphans);
    }

    private async Task RunMaintenance(bool scanOrphans)
    {
        try
        {
            await GrainFactory.GetGrain<ICompactorGrain>(Id.Value).Run(scanOrphans);
        }
        catch (Exception error)
        {
            // Nothing is lost: the work stays in the state and the next change or sweep starts it again.
            LogMaintenanceFailed(logger, error, Id.Value);
        }
        finally
        {
            _maintaining = false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: maintenance failed; it will run again")]
    private static partial void LogMaintenanceFailed(ILogger logger, Exception error, string shard);
}
