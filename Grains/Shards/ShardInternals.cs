using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Orleans.Leases.Shards;

// The shard's calls that are internal to the service. Each interface names the one caller the shard accepts it from,
// checked at run time from the calling grain's id (ShardGrain.Invoke), so holding the interface type is not enough.

/// <summary>Reader plumbing. Every method's first argument is the reader, and the shard accepts the call only from that
/// reader's own <see cref="IReaderLeaseGrain"/> (<c>{shard}/{reader}</c>).</summary>
[Alias("Leases.IShardReaders")]
internal interface IShardReaders : IGrainWithStringKey
{
    /// <summary>The reader's durable holds and secret hash, for a lease grain that (re)activates; null when the shard
    /// holds no such reader.</summary>
    [AlwaysInterleave, Alias("ResumeReader")]
    Task<ResumedReader?> ResumeReader(ReaderId reader);

    [AlwaysInterleave, Alias("RegisterReader")]
    Task<ReaderStatus> RegisterReader(ReaderId reader, LeaseSettings settings, GrainId client, string secretHash);

    /// <summary>Heartbeat, since downgrade, lease returns and seqno hold advance, in one change. Answers once the
    /// change is durable. Unless <paramref name="urgent"/>, the shard may hold it back (up to the reader's heartbeat
    /// interval) to share one write with its other readers' heartbeats.</summary>
    [AlwaysInterleave, Alias("SyncReader")]
    Task<ReaderStatus> SyncReader(ReaderId reader, Frontier since, ImmutableArray<ulong> returnedLeases, bool urgent);

    [AlwaysInterleave, Alias("LeaseSnapshot")]
    Task<LeasedSnapshot?> LeaseSnapshot(ReaderId reader, Frontier since, ulong asOf);

    [AlwaysInterleave, Alias("LeaseAfter")]
    Task<LeasedSnapshot?> LeaseAfter(ReaderId reader, Frontier since, ulong after);

    [AlwaysInterleave, Alias("ExpireReader")]
    Task ExpireReader(ReaderId reader);
}

/// <summary>Appends of stored parts: accepted only from a part worker (<see cref="IPartWorkerGrain"/>), which names the
/// parts it stores itself.</summary>
[Alias("Leases.IShardAppends")]
internal interface IShardAppends : IGrainWithStringKey
{
    /// <summary>Appends a batch whose parts are already stored, if the shard's upper is <paramref name="expectedUpper"/>.</summary>
    [AlwaysInterleave, Alias("CompareAndAppend")]
    Task<AppendResult> CompareAndAppend(Batch batch, Frontier expectedUpper);
}

/// <summary>Compaction and garbage collection: accepted only from this shard's own <see cref="Parts.ICompactorGrain"/>.</summary>
[Alias("Leases.IShardMaintenance")]
internal interface IShardMaintenance : IGrainWithStringKey
{
    [AlwaysInterleave, Alias("MaintenancePlan")]
    Task<MaintenancePlan> MaintenancePlan();

    /// <summary>Swaps <paramref name="replaced"/> for one batch of <paramref name="parts"/> if the run is unchanged;
    /// answers whether it did (or had, in an earlier attempt).</summary>
    [AlwaysInterleave, Alias("CompactBatches")]
    Task<bool> CompactBatches(ImmutableArray<Batch> replaced, ImmutableArray<PartRef> parts);

    [AlwaysInterleave, Alias("ForgetDeletedParts")]
    Task<int> ForgetDeletedParts(ImmutableArray<string> names);

    /// <summary>Every part name the state refers to, live or retired.</summary>
    [AlwaysInterleave, Alias("ReferencedParts")]
    Task<ImmutableHashSet<string>> ReferencedParts();
}

/// <summary>A reader as its lease grain resumes it: the durable holds, and the hash of the secret its client holds.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ResumedReader")]
internal sealed record ResumedReader(
    [property: Id(0)] ReaderStatus Status,
    [property: Id(1)] string? SecretHash);

/// <summary>What a shard's maintenance should do now: the run of batches to merge (empty: none), the since to
/// advance their times to, and the retired parts no hold protects.</summary>
[GenerateSerializer, Immutable, Alias("Leases.MaintenancePlan")]
internal sealed record MaintenancePlan(
    [property: Id(0)] ImmutableArray<Batch> CompactRun,
    [property: Id(1)] Frontier Since,
    [property: Id(2)] ImmutableArray<PartRef> Garbage);

/// <summary>What one maintenance run did.</summary>
[GenerateSerializer, Immutable, Alias("Leases.MaintenanceReport")]
internal sealed record MaintenanceReport(
    [property: Id(0)] int Compactions,
    [property: Id(1)] int PartsDeleted,
    [property: Id(2)] int OrphansDeleted);

/// <summary>An inline append refused because the shard's inline bytes are at their cap: the part worker stores the
/// batch as a part instead. Internal to the service, never a caller's error.</summary>
[GenerateSerializer, Alias("Leases.InlineFullException")]
internal sealed class InlineFullException(long inlineBytes, long limit)
    : ShardException($"The shard holds {inlineBytes} inline bytes; the cap is {limit}.");
