using Orleans.Leases.Shards;

namespace Orleans.Leases.Parts;

/// <summary>Compacts one shard's batches and deletes its garbage, off the shard grain's turn. Keyed by shard id;
/// one run at a time per shard, started only by that shard (checked from the caller's id).</summary>
[Alias("Leases.ICompactorGrain")]
internal interface ICompactorGrain : IGrainWithStringKey
{
    [ResponseTimeout("00:10:00"), Alias("Run")]
    Task<MaintenanceReport> Run(bool scanOrphans);
}
