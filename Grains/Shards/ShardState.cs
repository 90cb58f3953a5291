using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>
/// The persisted state of one shard, and its transitions. Pure: no I/O, no clock (time comes in as
/// <c>now</c>), no Orleans, so it can be applied to a copy, re-applied after a conflict and tested alone.
/// </summary>
public sealed partial record ShardState
{
    /// <summary>The version of this state; every applied change adds one.</summary>
    public ulong SeqNo { get; init; }

    /// <summary>Every update at a time &lt; Upper has been written. Only advances.</summary>
    public Frontier Upper { get; init; } = Frontier.Minimum;

    /// <summary>Reads are exact only as of times ≥ Since. Only advances.</summary>
    public Frontier Since { get; init; } = Frontier.Minimum;

    /// <summary>Contiguous: the first starts at {0}, each starts where the previous ends, the last ends at Upper.</summary>
    public ImmutableList<Batch> Batches { get; init; } = [];

    /// <summary>Leased readers by id. With readers present, Since == the meet (minimum) of their sinces.</summary>
    public ImmutableSortedDictionary<string, ReaderState> Readers { get; init; } = ImmutableSortedDictionary<string, ReaderState>.Empty;

    /// <summary>Keys of the most recent appends whose batches compaction merged (at most CompactedKeysKept).</summary>
    public ImmutableList<CompactedKey> CompactedKeys { get; init; } = [];

    /// <summary>Parts no batch names any more, each with the seqno that retired it; deleted once SeqNoSince passes it.</summary>
    public ImmutableList<RetiredPart> Retired { get; init; } = [];

    /// <summary>min(SeqNo, every reader's seqno hold): a part retired at a seqno below it may be deleted.</summary>
    public ulong SeqNoSince => Readers.Values.Select(r => r.SeqNoHold).Append(SeqNo).Min();

    public Outcome Apply(ShardCommand command, DateTimeOffset now)
    {
        var outcome = command switch
        {
            AppendBatch append => Append(append),
            RegisterReader register => Register(register, now),
            SyncReader sync => Sync(sync, now),
            HeartbeatReader heartbeat => Heartbeat(heartbeat, now),
            LeaseSnapshot lease => Lease(lease, now),
            ExpireReader expire => Expire(expire),
            ExpireLapsedReaders => ExpireLapsed(now),
            CompactBatches compact => Compact(compact),
            ForgetDeletedParts forget => Forget(forget),
            _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown shard command."),
        };
        // As in Persist, every change also expires the readers whose lease has lapsed.
        return outcome is Outcome.Applied applied
            ? applied with { Next = applied.Next.WithReaders(applied.Next.Readers.RemoveRange(applied.Next.LapsedReaders(now))) }
            : outcome;
    }

    public ReaderStatus? StatusOf(ReaderId reader)
    {
        if (!Readers.TryGetValue(reader.Value, out var r)) return null;
        var othersSince = Readers.Where(o => o.Key != reader.Value).Select(o => o.Value.Since).Append(Frontier.Empty).Min();
        return new ReaderStatus(r.Since, r.SeqNoHold, r.LastHeartbeat, r.Leases, SeqNo, Since, othersSince,
            new LeaseSettings { LeaseDuration = r.LeaseDuration, HeartbeatInterval = r.HeartbeatInterval, Purpose = r.Purpose },
            r.Client is null ? null : GrainId.Parse(r.Client));
    }

    /// <summary>The parts to read for as of <paramref name="asOf"/>, or null while upper ≤ asOf.</summary>
    public ShardSnapshot? Snapshot(ulong asOf)
    {
        if (!Since.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, Since);
        if (Upper.Contains(asOf)) return null;
        return new ShardSnapshot(asOf, SeqNo, PartsAsOf(asOf));
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

        // This very batch landed already: a write in doubt that succeeded, re-applied after a reload. Its parts are
        // referenced, so it answers Applied (the caller must not delete them).
        var landed = Batches.Find(b => b.IdempotencyKey == batch.IdempotencyKey);
        if (landed is not null && !batch.Parts.IsEmpty && SameParts(landed.Parts, batch.Parts))
            return new Outcome.Unchanged(new AppendResult(AppendOutcome.Applied, landed.Upper, SeqNo), "this append landed in an earlier attempt");

        // A retry of an applied append finds its batch, or its key once compaction merged the batch.
        var earlier = landed?.Upper
                      ?? CompactedKeys.Find(k => k.Key == batch.IdempotencyKey)?.Upper;
        if (earlier is { } appendedTo)
            return new Outcome.Unchanged(new AppendResult(AppendOutcome.AlreadyApplied, appendedTo, SeqNo), "already applied");
        if (Upper != expectedUpper)
            return new Outcome.Unchanged(new AppendResult(AppendOutcome.UpperMismatch, Upper, SeqNo), "upper mismatch");

        var next = this with { SeqNo = SeqNo + 1, Upper = batch.Upper, Batches = Batches.Add(batch) };
        return new Outcome.Applied(next, new AppendResult(AppendOutcome.Applied, next.Upper, next.SeqNo));
    }

    private Outcome Register(RegisterReader command, DateTimeOffset now)
    {
        var (reader, settings, client) = command;
        if (Readers.TryGetValue(reader.Value, out var existing))
            return existing.IsLapsed(now)
                ? Reject(new LeaseExpiredException(reader.Value, "its lease lapsed"))
                : new Outcome.Unchanged(StatusOf(reader), "registered already");

        var next = Changed(WithReaders(Readers.Add(reader.Value, new ReaderState
        {
            Since = Since,
            SeqNoHold = SeqNo + 1,
            LastHeartbeat = now,
            LeaseDuration = settings.LeaseDuration,
            HeartbeatInterval = settings.EffectiveHeartbeatInterval,
            Purpose = settings.Purpose,
            Client = client?.ToString(),
        })));
        return new Outcome.Applied(next, next.StatusOf(reader));
    }

    private Outcome Sync(SyncReader command, DateTimeOffset now)
    {
        var (reader, since, returned) = command;
        if (LiveReader(reader, since, now) is { } error) return Reject(error);
        var current = Readers[reader.Value];

        var leases = current.Leases.RemoveRange(returned);
        var nextSeqNo = SeqNo + 1;
        var hold = Math.Max(current.SeqNoHold, leases.Count > 0 ? Math.Min(leases.Values.Min(), nextSeqNo) : nextSeqNo);
        var next = Changed(WithReaders(Readers.SetItem(reader.Value,
            current with { Since = since, SeqNoHold = hold, LastHeartbeat = now, Leases = leases })));
        return new Outcome.Applied(next, next.StatusOf(reader));
    }

    private Outcome Heartbeat(HeartbeatReader command, DateTimeOffset now)
    {
        var current = Readers.GetValueOrDefault(command.Reader.Value);
        if (LiveReader(command.Reader, current?.Since ?? Frontier.Minimum, now) is { } error) return Reject(error);
        var next = Changed(this with { Readers = Readers.SetItem(command.Reader.Value, current! with { LastHeartbeat = now }) });
        return new Outcome.Applied(next, next.StatusOf(command.Reader));
    }

    private Outcome Lease(LeaseSnapshot command, DateTimeOffset now)
    {
        var (reader, since, asOf) = command;
        if (LiveReader(reader, since, now) is { } error) return Reject(error);
        if (!since.Contains(asOf)) return Reject(new AsOfBeforeSinceException(asOf, since));
        if (Upper.Contains(asOf)) return new Outcome.Unchanged(null, "upper has not passed as_of yet");

        var current = Readers[reader.Value];
        var nextSeqNo = SeqNo + 1;
        var leaseId = current.NextLeaseId;
        var next = Changed(WithReaders(Readers.SetItem(reader.Value, current with
        {
            Since = since,
            LastHeartbeat = now,
            Leases = current.Leases.Add(leaseId, nextSeqNo),
            NextLeaseId = leaseId + 1,
        })));
        return new Outcome.Applied(next, new LeasedSnapshot(leaseId, nextSeqNo, asOf, PartsAsOf(asOf)));
    }

    private Outcome Expire(ExpireReader command)
    {
        if (!Readers.ContainsKey(command.Reader.Value)) return new Outcome.Unchanged(null, "not registered");
        var status = StatusOf(command.Reader);
        return new Outcome.Applied(Changed(WithReaders(Readers.Remove(command.Reader.Value))), status);
    }

    private Outcome ExpireLapsed(DateTimeOffset now)
    {
        var lapsed = LapsedReaders(now).ToList();
        return lapsed.Count == 0
            ? new Outcome.Unchanged(0, "no lease has lapsed")
            : new Outcome.Applied(Changed(WithReaders(Readers.RemoveRange(lapsed))), lapsed.Count);
    }

    /// <summary>Why <paramref name="reader"/> may not act, asking for <paramref name="since"/>; null when it may.</summary>
    private ShardException? LiveReader(ReaderId reader, Frontier since, DateTimeOffset now)
    {
        if (!Readers.TryGetValue(reader.Value, out var current))
            return new LeaseExpiredException(reader.Value, "the shard holds no such reader (closed, lapsed, or never opened)");
        if (current.IsLapsed(now))
            return new LeaseExpiredException(reader.Value, $"no heartbeat since {current.LastHeartbeat:O}, lease {current.LeaseDuration}");
        if (since < current.Since)
            return new FrontierRegressionException("The reader's since", current.Since, since);
        return null;
    }

    private IEnumerable<string> LapsedReaders(DateTimeOffset now) =>
        Readers.Where(r => r.Value.IsLapsed(now)).Select(r => r.Key);

    /// <summary>This state with <paramref name="readers"/>, and since moved to their meet.</summary>
    private ShardState WithReaders(ImmutableSortedDictionary<string, ReaderState> readers) => this with
    {
        Readers = readers,
        Since = readers.IsEmpty ? Since : Frontier.Max(Since, readers.Values.Select(r => r.Since).Min()),
    };

    private ShardState Changed(ShardState next) => next with { SeqNo = SeqNo + 1 };

    private ImmutableArray<PartRef> PartsAsOf(ulong asOf) =>
        [.. Batches.TakeWhile(b => b.Lower.Time <= asOf).SelectMany(b => b.Parts)];

    private static bool SameParts(ImmutableArray<PartRef> a, ImmutableArray<PartRef> b) =>
        a.Select(p => p.Name).SequenceEqual(b.Select(p => p.Name));

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
        foreach (var (id, reader) in Readers)
        {
            if (reader.Since < Since) problems.Add($"reader {id} since {reader.Since} is below the shard's since {Since}");
            if (reader.SeqNoHold > SeqNo) problems.Add($"reader {id} holds seqno {reader.SeqNoHold}, beyond the shard's {SeqNo}");
            if (reader.Leases.Count > 0 && reader.SeqNoHold > reader.Leases.Values.Min())
                problems.Add($"reader {id} holds seqno {reader.SeqNoHold}, beyond its leased seqno {reader.Leases.Values.Min()}");
        }
        var live = Batches.SelectMany(b => b.Parts).Select(p => p.Name).ToHashSet();
        foreach (var retired in Retired)
        {
            if (live.Contains(retired.Part.Name)) problems.Add($"part {retired.Part.Name} is both live and retired");
            if (retired.RetiredAt >= SeqNo) problems.Add($"part {retired.Part.Name} retired at {retired.RetiredAt}, beyond seqno {SeqNo}");
        }
        if (!Readers.IsEmpty && Since != Readers.Values.Select(r => r.Since).Min())
            problems.Add($"since {Since} is not the meet of the readers' sinces");
        return problems;
    }
}
