using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>
/// The persisted state of one shard, and its transitions. Pure: no I/O, no clock (time comes in as
/// <c>now</c>), no Orleans, so it can be applied to a copy, re-applied after a conflict and tested alone.
/// </summary>
public sealed record ShardState
{
    /// <summary>The version of this state; every applied change adds one.</summary>
    public ulong SeqNo { get; init; }

    /// <summary>Every update at a time &lt; Upper has been written. Only advances.</summary>
    public Frontier Upper { get; init; } = Frontier.Minimum;

    /// <summary>Reads are exact only as of times ≥ Since. Only advances.</summary>
    public Frontier Since { get; init; } = Frontier.Minimum;

    /// <summary>Contiguous: the first starts at {0}, each starts where the previous ends, the last ends at Upper.</summary>
    public ImmutableList<Batch> Batches { get; init; } = [];

    public Outcome Apply(ShardCommand command, DateTimeOffset now) => command switch
    {
        AppendBatch append => Append(append),
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown shard command."),
    };

    /// <summary>The parts to read for as of <paramref name="asOf"/>, or null while upper ≤ asOf.</summary>
    public ShardSnapshot? Snapshot(ulong asOf)
    {
        if (!Since.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, Since);
        if (Upper.Contains(asOf)) return null;
        return new ShardSnapshot(asOf, SeqNo,
            [.. Batches.TakeWhile(b => b.Lower.Time <= asOf).SelectMany(b => b.Parts)]);
    }

    private Outcome Append(AppendBatch command)
    {
        var (batch, expectedUpper) = command;
        if (batch.Lower != expectedUpper)
            return Reject(new InvalidAppendException($"The batch starts at {batch.Lower}, not at the expected upper {expectedUpper}."));
        if (batch.Upper <= batch.Lower)
            return Reject(new InvalidAppendException($"newUpper {batch.Upper} must be beyond expectedUpper {batch.Lower}."));
        if (batch.Parts.IsDefault)
            return Reject(new InvalidAppendException("The batch has no parts list."));
        if (string.IsNullOrEmpty(batch.IdempotencyKey))
            return Reject(new InvalidAppendException("An append needs an idempotency key."));

        // A retry of an applied append finds its batch (until compaction merges it away).
        var earlier = Batches.Find(b => b.IdempotencyKey == batch.IdempotencyKey);
        if (earlier is not null)
            return new Outcome.Unchanged(new AppendResult(AppendOutcome.AlreadyApplied, earlier.Upper, SeqNo), "already applied");
        if (Upper != expectedUpper)
            return new Outcome.Unchanged(new AppendResult(AppendOutcome.UpperMismatch, Upper, SeqNo), "upper mismatch");

        var next = this with { SeqNo = SeqNo + 1, Upper = batch.Upper, Batches = Batches.Add(batch) };
        return new Outcome.Applied(next, new AppendResult(AppendOutcome.Applied, next.Upper, next.SeqNo));
    }

    private static Outcome.Rejected Reject(ShardException error) => new(error);

    /// <summary>Every structural invariant of a state; the empty list means it holds. Checked by the tests
    /// after each transition.</summary>
    public IReadOnlyList<string> Violations()
    {
        var problems = new List<string>();
        var expectedLower = Frontier.Minimum;
        foreach (var batch in Batches)
        {
            if (batch.Lower != expectedLower) problems.Add($"batch {batch.Lower}..{batch.Upper} is not contiguous after {expectedLower}");
            if (batch.Upper <= batch.Lower) problems.Add($"batch {batch.Lower}..{batch.Upper} is empty");
            expectedLower = batch.Upper;
        }
        if (expectedLower != Upper) problems.Add($"batches end at {expectedLower}, upper is {Upper}");
        return problems;
    }
}
