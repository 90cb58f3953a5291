namespace Orleans.Leases.Shards;

/// <summary>A change asked of a shard. Applied by <see cref="ShardState.Apply"/>.</summary>
public abstract record ShardCommand;

/// <summary>Append <paramref name="Batch"/> if the shard's upper is <paramref name="ExpectedUpper"/>.
/// Answers an <see cref="AppendResult"/>.</summary>
public sealed record AppendBatch(Batch Batch, Frontier ExpectedUpper) : ShardCommand;

/// <summary>The answer of <see cref="ShardState.Apply"/>: applied, no change, or rejected.</summary>
public abstract record Outcome
{
    /// <summary>A new state, one seqno later, and the caller's answer.</summary>
    public sealed record Applied(ShardState Next, object Answer) : Outcome;

    /// <summary>Nothing to write; <paramref name="Reason"/> says why.</summary>
    public sealed record Unchanged(object Answer, string Reason) : Outcome;

    /// <summary>Refused; the state is unchanged and the caller gets <paramref name="Error"/>.</summary>
    public sealed record Rejected(ShardException Error) : Outcome;
}
