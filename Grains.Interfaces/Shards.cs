using System.Collections.Immutable;

namespace Orleans.Leases;

/// <summary>A part of a batch: a stored blob of updates, <paramref name="Name"/> being its blob name in the parts
/// container; or, for a small batch, its updates kept in the shard's state itself (<paramref name="Inline"/>), named
/// alike but with no blob. <paramref name="Bytes"/> is the size of the blob it is or would be.</summary>
[GenerateSerializer, Immutable, Alias("Leases.PartRef")]
public sealed record PartRef(
    [property: Id(0)] string Name,
    [property: Id(1)] long Bytes,
    [property: Id(2)] int Updates,
    [property: Id(3)] ImmutableArray<Update>? Inline = null)
{
    public bool IsInline => Inline is not null;
}

/// <summary>A contiguous slice [Lower, Upper) of a shard's history, stored as zero or more parts.</summary>
[GenerateSerializer, Immutable, Alias("Leases.Batch")]
public sealed record Batch(
    [property: Id(0)] Frontier Lower,
    [property: Id(1)] Frontier Upper,
    [property: Id(2)] ImmutableArray<PartRef> Parts,
    [property: Id(3)] string IdempotencyKey);

public enum AppendOutcome
{
    /// <summary>The batch was appended: <see cref="AppendResult.Upper"/> is its upper.</summary>
    Applied,
    /// <summary>A batch with the same idempotency key was appended before; nothing changed.</summary>
    AlreadyApplied,
    /// <summary>The shard's upper was not the expected one; nothing changed. <see cref="AppendResult.Upper"/> is
    /// the shard's current upper, so the caller can retry without another read.</summary>
    UpperMismatch,
}

[GenerateSerializer, Immutable, Alias("Leases.AppendResult")]
public sealed record AppendResult(
    [property: Id(0)] AppendOutcome Outcome,
    [property: Id(1)] Frontier Upper,
    [property: Id(2)] ulong SeqNo);

/// <summary>What to read for an exact snapshot as of <paramref name="AsOf"/>, taken from state <paramref name="SeqNo"/>.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ShardSnapshot")]
public sealed record ShardSnapshot(
    [property: Id(0)] ulong AsOf,
    [property: Id(1)] ulong SeqNo,
    [property: Id(2)] ImmutableArray<PartRef> Parts);

/// <summary>A shard's persisted facts and the counters of its current activation.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ShardInfo")]
public sealed record ShardInfo(
    [property: Id(0)] ulong SeqNo,
    [property: Id(1)] Frontier Since,
    [property: Id(2)] Frontier Upper,
    [property: Id(3)] int Batches,
    [property: Id(4)] int Parts,
    [property: Id(5)] long PartBytes,
    [property: Id(6)] int Readers,
    [property: Id(7)] ShardCounters Counters,
    [property: Id(8)] ulong SeqNoSince,
    [property: Id(9)] int RetiredParts,
    [property: Id(10)] long RetiredBytes,
    [property: Id(11)] long InlineBytes)
{
    /// <summary>State versions kept for readers: seqno − seqno_since.</summary>
    public ulong RetainedSeqNos => SeqNo - SeqNoSince;
}

/// <summary>Work done by the current activation: <see cref="StateWrites"/> / <see cref="Commands"/> is the group
/// commit ratio.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ShardCounters")]
public sealed record ShardCounters(
    [property: Id(0)] long Commands,
    [property: Id(1)] long StateWrites,
    [property: Id(2)] long CasConflicts,
    [property: Id(3)] long PartsDeleted);
