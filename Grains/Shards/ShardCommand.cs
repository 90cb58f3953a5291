using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>A change asked of a shard. Applied by <see cref="ShardState.Apply{TAnswer}"/>.</summary>
internal abstract record ShardCommand
{
    private protected ShardCommand() { } // every command is a ShardCommand<TAnswer>
}

/// <summary>A change whose caller is answered a <typeparamref name="TAnswer"/>.</summary>
internal abstract record ShardCommand<TAnswer> : ShardCommand;

/// <summary>Append <paramref name="Batch"/> if the shard's upper is <paramref name="ExpectedUpper"/>, its inline parts
/// only while the shard's inline bytes stay within <paramref name="InlineBytesMax"/> (else
/// <see cref="InlineFullException"/>). Answers an <see cref="AppendResult"/>.</summary>
internal sealed record AppendBatch(Batch Batch, Frontier ExpectedUpper, long InlineBytesMax = long.MaxValue) : ShardCommand<AppendResult>;

/// <summary>Replaces the run <paramref name="Replaced"/> (if it is still in the state, unchanged) by one batch made of
/// <paramref name="Parts"/>; the replaced parts are retired at the new seqno. Answers whether it was applied.</summary>
internal sealed record CompactBatches(ImmutableArray<Batch> Replaced, ImmutableArray<PartRef> Parts) : ShardCommand<bool>;

/// <summary>Forgets retired parts whose blobs the collector deleted; only parts retired below seqno_since.
/// Answers how many were forgotten.</summary>
internal sealed record ForgetDeletedParts(ImmutableArray<string> Names) : ShardCommand<int>;

/// <summary>The answer of <see cref="ShardState.Apply{TAnswer}"/>: applied, no change, or rejected.</summary>
internal abstract record Outcome<TAnswer>
{
    private Outcome() { }

    /// <summary>A new state, one seqno later, and the caller's answer.</summary>
    public sealed record Applied(ShardState Next, TAnswer Answer) : Outcome<TAnswer>;

    /// <summary>Nothing to write; <paramref name="Reason"/> says why.</summary>
    public sealed record Unchanged(TAnswer Answer, string Reason) : Outcome<TAnswer>;

    /// <summary>Refused; the state is unchanged and the caller gets <paramref name="Error"/>.</summary>
    public sealed record Rejected(ShardException Error) : Outcome<TAnswer>;
}

/// <summary>Registers a leased reader: its since starts at the shard's since, its seqno hold at the new seqno; only
/// the holder of the secret whose hash is <paramref name="SecretHash"/> acts for it. Answers a <see cref="ReaderStatus"/>.</summary>
internal sealed record RegisterReader(ReaderId Reader, LeaseSettings Settings, GrainId Client, string SecretHash) : ShardCommand<ReaderStatus>;

/// <summary>The lease task's sync: heartbeat, since downgrade to <paramref name="Since"/> (a lower since than the
/// reader's, from a sync repeated or overtaken, moves nothing back), return of
/// <paramref name="Returned"/> leases, and the seqno hold advanced as far as the remaining leases allow.
/// Answers a <see cref="ReaderStatus"/>.</summary>
internal sealed record SyncReader(ReaderId Reader, Frontier Since, ImmutableArray<ulong> Returned) : ShardCommand<ReaderStatus>;

/// <summary>Leases the parts of a snapshot as of <paramref name="AsOf"/> to the reader (with its latest requested
/// <paramref name="Since"/>). Answers a <see cref="LeasedSnapshot"/>, or null while upper ≤ asOf.</summary>
internal sealed record LeaseSnapshot(ReaderId Reader, Frontier Since, ulong AsOf) : ShardCommand<LeasedSnapshot?>;

/// <summary>A listener's lease: the parts of the batches holding times after <paramref name="After"/> (≥ the reader's
/// since), up to the shard's upper. Answers a <see cref="LeasedSnapshot"/> whose AsOf is the last time it covers
/// (upper − 1), or null while no time after <paramref name="After"/> is written.</summary>
internal sealed record LeaseAfter(ReaderId Reader, Frontier Since, ulong After) : ShardCommand<LeasedSnapshot?>;

/// <summary>Removes a reader and its holds (close). Answers its last <see cref="ReaderStatus"/>, or null if it was gone.</summary>
internal sealed record ExpireReader(ReaderId Reader) : ShardCommand<ReaderStatus?>;

/// <summary>Removes every reader whose lease has lapsed. Answers how many.</summary>
internal sealed record ExpireLapsedReaders : ShardCommand<int>;
