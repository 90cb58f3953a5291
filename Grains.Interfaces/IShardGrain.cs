using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Orleans.Leases;

/// <summary>
/// One shard, keyed by its <see cref="ShardId"/>: the only writer of the shard's persisted state. Every change is one
/// compare-and-set write; concurrent changes share a write (group commit). Call it through the client types
/// (<see cref="WriteHandle"/>); parts are uploaded by <see cref="IPartWorkerGrain"/> before they reach the shard.
/// </summary>
[Alias("Leases.IShardGrain")]
public interface IShardGrain : IGrainWithStringKey
{
    /// <summary>Appends a batch whose parts are already stored, if the shard's upper is <paramref name="expectedUpper"/>.</summary>
    [AlwaysInterleave, Alias("CompareAndAppend")]
    Task<AppendResult> CompareAndAppend(Batch batch, Frontier expectedUpper);

    /// <summary>Returns once upper &gt; <paramref name="asOf"/>, or when <paramref name="cancellation"/> fires;
    /// answers the current upper either way.</summary>
    [AlwaysInterleave, Alias("WaitForUpper")]
    Task<Frontier> WaitForUpper(ulong asOf, CancellationToken cancellation);

    [AlwaysInterleave, Alias("Inspect")]
    Task<ShardInfo> Inspect();

    // Leased readers: called by each reader's IReaderLeaseGrain.

    // Maintenance: called by the shard's ICompactorGrain.

    [AlwaysInterleave, Alias("MaintenancePlan")]
    Task<MaintenancePlan> MaintenancePlan();

    /// <summary>Swaps <paramref name="replaced"/> for one batch of <paramref name="parts"/> if the run is unchanged;
    /// answers whether it did.</summary>
    [AlwaysInterleave, Alias("CompactBatches")]
    Task<bool> CompactBatches(ImmutableArray<Batch> replaced, ImmutableArray<PartRef> parts);

    [AlwaysInterleave, Alias("ForgetDeletedParts")]
    Task<int> ForgetDeletedParts(ImmutableArray<string> names);

    /// <summary>Every part name the state refers to, live or retired.</summary>
    [AlwaysInterleave, Alias("ReferencedParts")]
    Task<ImmutableHashSet<string>> ReferencedParts();

    [AlwaysInterleave, Alias("RegisterReader")]
    Task<ReaderStatus> RegisterReader(ReaderId reader, LeaseSettings settings, GrainId? client);

    /// <summary>Heartbeat, since downgrade, lease returns and seqno hold advance, in one change. Answers once the
    /// change is durable. Unless <paramref name="urgent"/>, the shard may hold it back (up to the reader's heartbeat
    /// interval) to share one write with its other readers' heartbeats.</summary>
    [AlwaysInterleave, Alias("SyncReader")]
    Task<ReaderStatus> SyncReader(ReaderId reader, Frontier since, ImmutableArray<ulong> returnedLeases, bool urgent);

    /// <summary>Extends the lease only: no hold moves.</summary>
    [AlwaysInterleave, Alias("HeartbeatReader")]
    Task<ReaderStatus> HeartbeatReader(ReaderId reader);

    [AlwaysInterleave, Alias("LeaseSnapshot")]
    Task<LeasedSnapshot?> LeaseSnapshot(ReaderId reader, Frontier since, ulong asOf);

    [AlwaysInterleave, Alias("ExpireReader")]
    Task ExpireReader(ReaderId reader);

    /// <summary>The shard's leased readers, as durable.</summary>
    [AlwaysInterleave, Alias("ReaderIds")]
    Task<ImmutableArray<ReaderId>> ReaderIds();

    /// <summary>The reader's durable holds, or null when the shard holds no such reader.</summary>
    [AlwaysInterleave, Alias("ReaderStatus")]
    Task<ReaderStatus?> ReaderStatus(ReaderId reader);
}

/// <summary>Compacts one shard's batches and deletes its garbage, off the shard grain's turn. Keyed by shard id;
/// one run at a time per shard.</summary>
[Alias("Leases.ICompactorGrain")]
public interface ICompactorGrain : IGrainWithStringKey
{
    [ResponseTimeout("00:10:00"), Alias("Run")]
    Task<MaintenanceReport> Run(bool scanOrphans);
}

/// <summary>
/// Moves part bytes between callers and blob storage, so that blob I/O never runs in a shard grain's turn.
/// Stateless and local to the calling silo.
/// </summary>
[Alias("Leases.IPartWorkerGrain")]
public interface IPartWorkerGrain : IGrainWithIntegerKey
{
    /// <summary>Validates the updates, stores them as a part, then appends the batch to the shard. A part whose
    /// append did not happen is deleted.</summary>
    [Alias("Append")]
    Task<AppendResult> Append(ShardId shard, ImmutableArray<Update> updates, Frontier expectedUpper, Frontier newUpper,
        string idempotencyKey);

    [Alias("ReadPart")]
    Task<ImmutableArray<Update>> ReadPart(PartRef part);
}
