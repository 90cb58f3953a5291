using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Orleans.Leases;

/// <summary>
/// One shard, keyed by its <see cref="ShardId"/>: the only writer of the shard's persisted state. Every change is one
/// compare-and-set write; concurrent changes share a write (group commit). Applications change it only through the
/// client types (<see cref="WriteHandle"/>, <see cref="ReadHandle"/>); what is here only reads. The shard's other
/// calls are internal to the service and accepted only from the grain that owns each of them.
/// </summary>
[Alias("Leases.IShardGrain")]
public interface IShardGrain : IGrainWithStringKey
{
    /// <summary>Returns once upper &gt; <paramref name="asOf"/>, or when <paramref name="cancellation"/> fires;
    /// answers the current upper either way.</summary>
    [AlwaysInterleave, Alias("WaitForUpper")]
    Task<Frontier> WaitForUpper(ulong asOf, CancellationToken cancellation);

    [AlwaysInterleave, Alias("Inspect")]
    Task<ShardInfo> Inspect();

    /// <summary>The shard's leased readers, as durable.</summary>
    [AlwaysInterleave, Alias("ReaderIds")]
    Task<ImmutableArray<ReaderId>> ReaderIds();

    /// <summary>The reader's durable holds, or null when the shard holds no such reader.</summary>
    [AlwaysInterleave, Alias("ReaderStatus")]
    Task<ReaderStatus?> ReaderStatus(ReaderId reader);
}

/// <summary>
/// Moves part bytes between callers and blob storage, so that blob I/O never runs in a shard grain's turn.
/// Stateless and local to the calling silo. The only way to append: it names the parts it stores itself.
/// </summary>
[Alias("Leases.IPartWorkerGrain")]
public interface IPartWorkerGrain : IGrainWithIntegerKey
{
    /// <summary>Validates the updates, stores them as a part, then appends the batch to the shard. A part whose
    /// append did not happen is deleted.</summary>
    [Alias("Append")]
    Task<AppendResult> Append(ShardId shard, ImmutableArray<Update> updates, Frontier expectedUpper, Frontier newUpper,
        string idempotencyKey);

    /// <summary>The updates of one of a shard's parts; any other name is refused with <see cref="InvalidPartException"/>.</summary>
    [Alias("ReadPart")]
    Task<ImmutableArray<Update>> ReadPart(PartRef part);
}
