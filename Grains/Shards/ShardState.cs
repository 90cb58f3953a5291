using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>
/// The persisted state of one shard, and its transitions. Pure: no I/O, no clock (time comes in as
/// <c>now</c>), no Orleans calls, so it can be applied to a copy, re-applied after a conflict and tested alone.
/// Stored in Orleans' binary format (<see cref="ShardStateSerializer"/>; the readers through
/// <see cref="ReaderTableCodec"/>); states stored as JSON before are still read.
/// </summary>
[GenerateSerializer, Immutable, Alias("Leases.ShardState")]
internal sealed partial record ShardState
{
    /// <summary>The version of this state; every applied change adds one.</summary>
    [Id(0)] public ulong SeqNo { get; init; }

    /// <summary>Every update at a time &lt; Upper has been written. Only advances.</summary>
    [Id(1)] public Frontier Upper { get; init; } = Frontier.Minimum;

    /// <summary>Reads are exact only as of times ≥ Since. Only advances.</summary>
    [Id(2)] public Frontier Since { get; init; } = Frontier.Minimum;

    /// <summary>Contiguous: the first starts at {0}, each starts where the previous ends, the last ends at Upper.</summary>
    [Id(3)] public ImmutableList<Batch> Batches { get; init; } = [];

    /// <summary>Leased readers by id. With readers present, Since == the meet (minimum) of their sinces.</summary>
    [Id(4)] public ReaderTable Readers { get; init; } = ReaderTable.Empty;

    /// <summary>Keys of the most recent appends whose batches compaction merged (at most CompactedKeysKept).</summary>
    [Id(5)] public ImmutableList<CompactedKey> CompactedKeys { get; init; } = [];

    /// <summary>Parts no batch names any more, each with the seqno that retired it; deleted once SeqNoSince passes it.</summary>
    [Id(6)] public ImmutableList<RetiredPart> Retired { get; init; } = [];

    /// <summary>min(SeqNo, every reader's seqno hold): a part retired at a seqno below it may be deleted.</summary>
    public ulong SeqNoSince => Math.Min(SeqNo, Readers.MinSeqNoHold(SeqNo));

    /// <summary>Applies <paramref name="command"/>. A command that throws is answered rejected
    /// (<see cref="MalformedCommandException"/>), not thrown: in a group commit, one bad command never fails its neighbours.</summary>
    public Outcome<TAnswer> Apply<TAnswer>(ShardCommand<TAnswer> command, DateTimeOffset now)
    {
        try
        {
            // Checked pairs each command with an outcome of its own answer type, so this cast cannot fail.
            var outcome = (Outcome<TAnswer>)(command switch
            {
                AppendBatch append => Checked(append, Append(append)),
                RegisterReader register => Checked(register, Register(register, now)),
                SyncReader sync => Checked(sync, Sync(sync, now)),
                LeaseSnapshot lease => Checked(lease, Lease(lease, now)),
                LeaseAfter lease => Checked(lease, Lease(lease, now)),
                ExpireReader expire => Checked(expire, Expire(expire)),
                ExpireLapsedReaders expireLapsed => Checked(expireLapsed, ExpireLapsed(now)),
                CompactBatches compact => Checked(compact, Compact(compact)),
                ForgetDeletedParts forget => Checked(forget, Forget(forget)),
                _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown shard command."),
            });
            // As in Persist, every change also expires the readers whose lease has lapsed.
            return outcome is Outcome<TAnswer>.Applied applied && applied.Next.Readers.Lapsed(now) is { Count: > 0 } lapsed
                ? applied with { Next = applied.Next.WithReaders(applied.Next.Readers.RemoveRange(lapsed)) }
                : outcome;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            return Reject<TAnswer>(new MalformedCommandException($"{command?.GetType().Name ?? "A null command"} could not be applied: {error.Message}"));
        }
    }

    /// <summary>Compiles only where <paramref name="outcome"/> answers <paramref name="command"/>'s answer type.</summary>
    private static object Checked<TAnswer>(ShardCommand<TAnswer> command, Outcome<TAnswer> outcome) => outcome;

    public ReaderStatus? StatusOf(ReaderId reader) =>
        Readers.TryGetValue(reader.Value, out var r) ? StatusOf(reader, r) : null;

    /// <summary>The status of <paramref name="reader"/>, held here as <paramref name="r"/>.</summary>
    private ReaderStatus StatusOf(ReaderId reader, ReaderState r) =>
        new(r.Since, r.SeqNoHold, r.LastHeartbeat, r.Leases, SeqNo, Since, Readers.MinSinceOfOthers(reader.Value),
            new LeaseSettings { LeaseDuration = r.LeaseDuration, HeartbeatInterval = r.HeartbeatInterval, Purpose = r.Purpose },
            r.Client is null ? null : GrainId.Parse(r.Client));

    /// <summary>The parts to read for as of <paramref name="asOf"/>, or null while upper ≤ asOf.</summary>
    public ShardSnapshot? Snapshot(ulong asOf)
    {
        if (!Since.Contains(asOf)) throw new AsOfBeforeSinceException(asOf, Since);
        if (Upper.Contains(asOf)) return null;
        return new ShardSnapshot(asOf, SeqNo, PartsAsOf(asOf));
    }

    private Outcome<AppendResult> Append(AppendBatch command)
    {
        var (batch, expectedUpper, _) = command;
        if (batch is null || batch.Parts.IsDefault || batch.Parts.Any(p => p is null))
            return Reject<AppendResult>(new InvalidAppendException("The batch, its parts list or a part is missing."));
        if (batch.Lower != expectedUpper)
            return Reject<AppendResult>(new InvalidAppendException($"The batch starts at {batch.Lower}, not at the expected upper {expectedUpper}."));
        if (AppendRules.BatchError(batch.Lower, batch.Upper, batch.IdempotencyKey) is { } error)
            return Reject<AppendResult>(new InvalidAppendException(error));
        if (InvalidParts(batch.Parts) is { } invalid) return Reject<AppendResult>(new InvalidAppendException(invalid));

        // This very batch landed already: a write in doubt that succeeded, re-applied after a reload — its batch
        // perhaps merged by compaction since. The state names its parts, so it answers Applied: the caller must not
        // delete them (a reader's seqno hold may still protect them).
        if (NamesAny(batch.Parts))
            return Unchanged(new AppendResult(AppendOutcome.Applied, batch.Upper, SeqNo), "this append landed in an earlier attempt");

        // A retry of an applied append finds its batch, or its key once compaction merged the batch.
        ulong? digest = null;
        var earlier = Batches.Find(b => b.IdempotencyKey == batch.IdempotencyKey)?.Upper
                      ?? CompactedKeys.Find(k => k.Matches(batch.IdempotencyKey, digest ??= CompactedKey.DigestOf(batch.IdempotencyKey)))?.Upper;
        if (earlier is { } appendedTo)
            return Unchanged(new AppendResult(AppendOutcome.AlreadyApplied, appendedTo, SeqNo), "already applied");
        if (Upper != expectedUpper)
            return Unchanged(new AppendResult(AppendOutcome.UpperMismatch, Upper, SeqNo), "upper mismatch");
        var inline = InlineBytesOf(batch);
        if (inline > 0 && InlineBytes + inline > command.InlineBytesMax)
            return Reject<AppendResult>(new InlineFullException(InlineBytes, command.InlineBytesMax));

        var next = this with { SeqNo = SeqNo + 1, Upper = batch.Upper, Batches = Batches.Add(batch) };
        return Applied(next, new AppendResult(AppendOutcome.Applied, next.Upper, next.SeqNo));
    }

    private Outcome<ReaderStatus> Register(RegisterReader command, DateTimeOffset now)
    {
        var (reader, settings, client, secretHash) = command;
        if (settings is null || client.IsDefault || string.IsNullOrEmpty(secretHash))
            return Reject<ReaderStatus>(new InvalidInputException("A reader needs its lease settings, a client to ping and its secret."));
        if (Readers.TryGetValue(reader.Value, out var existing))
        {
            if (existing.IsLapsed(now)) return Reject<ReaderStatus>(new LeaseExpiredException(reader.Value, "its lease lapsed"));
            return existing.SecretHash == secretHash
                ? Unchanged(StatusOf(reader, existing), "registered already")
                : Reject<ReaderStatus>(new AccessDeniedException($"Reader '{reader.Value}' is open already, by another client."));
        }

        var registered = new ReaderState
        {
            Since = Since,
            SeqNoHold = SeqNo + 1,
            LastHeartbeat = now,
            LeaseDuration = settings.LeaseDuration,
            HeartbeatInterval = settings.EffectiveHeartbeatInterval,
            Purpose = settings.Purpose,
            Client = client.ToString(),
            SecretHash = secretHash,
        };
        var next = Changed(WithReaders(Readers.SetItem(reader.Value, registered)));
        return Applied(next, next.StatusOf(reader, registered));
    }

    private Outcome<ReaderStatus> Sync(SyncReader command, DateTimeOffset now)
    {
        var (reader, since, returned) = command;
        if (LiveReader(reader, now) is { } error) return Reject<ReaderStatus>(error);
        var current = Readers[reader.Value];

        var leases = current.Leases.RemoveRange(returned.IsDefault ? [] : returned);
        var nextSeqNo = SeqNo + 1;
        var hold = Math.Max(current.SeqNoHold, leases.Count > 0 ? Math.Min(leases.Values.Min(), nextSeqNo) : nextSeqNo);
        var synced = current.Heartbeat(now) with
        {
            Since = Frontier.Max(current.Since, since), // a sync repeated or overtaken by a later one moves nothing back
            SeqNoHold = hold,
            Leases = leases,
        };
        var next = Changed(WithReaders(Readers.SetItem(reader.Value, synced)));
        return Applied(next, next.StatusOf(reader, synced));
    }

    private Outcome<LeasedSnapshot?> Lease(LeaseSnapshot command, DateTimeOffset now)
    {
        var (reader, requested, asOf) = command;
        return LeaseTo(reader, requested, asOf, now, Upper.Contains(asOf) ? null : PartsAsOf(asOf));
    }

    /// <summary>The batches holding times after <c>After</c>, through upper − 1. Times below since were advanced to
    /// since by compaction, and since ≤ After: a listener never meets an update it has had.</summary>
    private Outcome<LeasedSnapshot?> Lease(LeaseAfter command, DateTimeOffset now)
    {
        var (reader, requested, after) = command;
        // Whether [lower, upper) holds a time after `after`; an empty upper holds every time from lower on.
        bool After(Frontier upper) => upper.IsEmpty || (upper.Time > 0 && upper.Time - 1 > after);
        var parts = After(Upper) ? [.. Batches.Where(b => After(b.Upper)).SelectMany(b => b.Parts)] : (ImmutableArray<PartRef>?)null;
        return LeaseTo(reader, requested, after, now, parts, Upper.IsEmpty ? ulong.MaxValue : Upper.Time - 1);
    }

    /// <summary>Leases <paramref name="parts"/> (null: nothing to lease yet) to a live reader whose since allows
    /// reads at <paramref name="from"/>.</summary>
    private Outcome<LeasedSnapshot?> LeaseTo(ReaderId reader, Frontier requested, ulong from, DateTimeOffset now,
        ImmutableArray<PartRef>? parts, ulong? asOf = null)
    {
        if (LiveReader(reader, now) is { } error) return Reject<LeasedSnapshot?>(error);
        var current = Readers[reader.Value];
        var since = Frontier.Max(current.Since, requested);
        if (!since.Contains(from)) return Reject<LeasedSnapshot?>(new AsOfBeforeSinceException(from, since));
        if (parts is null) return Unchanged<LeasedSnapshot?>(null, "upper has not passed the time asked for yet");

        var nextSeqNo = SeqNo + 1;
        var leaseId = current.NextLeaseId;
        var next = Changed(WithReaders(Readers.SetItem(reader.Value, current.Heartbeat(now) with
        {
            Since = since,
            Leases = current.Leases.Add(leaseId, nextSeqNo),
            NextLeaseId = leaseId + 1,
        })));
        return Applied<LeasedSnapshot?>(next, new LeasedSnapshot(leaseId, nextSeqNo, asOf ?? from, parts.Value));
    }

    private Outcome<ReaderStatus?> Expire(ExpireReader command)
    {
        if (!Readers.ContainsKey(command.Reader.Value)) return Unchanged<ReaderStatus?>(null, "not registered");
        var status = StatusOf(command.Reader);
        return Applied(Changed(WithReaders(Readers.Remove(command.Reader.Value))), status);
    }

    private Outcome<int> ExpireLapsed(DateTimeOffset now)
    {
        var lapsed = Readers.Lapsed(now);
        return lapsed.Count == 0
            ? Unchanged(0, "no lease has lapsed")
            : Applied(Changed(WithReaders(Readers.RemoveRange(lapsed))), lapsed.Count);
    }

    /// <summary>Why <paramref name="reader"/> may not act; null when it may.</summary>
    private ShardException? LiveReader(ReaderId reader, DateTimeOffset now)
    {
        if (reader.Value is null || !Readers.TryGetValue(reader.Value, out var current))
            return new LeaseExpiredException(reader.Value ?? "", "the shard holds no such reader (closed, lapsed, or never opened)");
        if (current.IsLapsed(now))
            return new LeaseExpiredException(reader.Value, $"no heartbeat since {current.LastHeartbeat:O}, lease {current.LeaseDuration}");
        return null;
    }

    /// <summary>This state with <paramref name="readers"/>, and since moved to their meet.</summary>
    private ShardState WithReaders(ReaderTable readers) => this with
    {
        Readers = readers,
        Since = readers.IsEmpty ? Since : Frontier.Max(Since, readers.MinSince),
    };

    private ShardState Changed(ShardState next) => next with { SeqNo = SeqNo + 1 };

    private ImmutableArray<PartRef> PartsAsOf(ulong asOf) =>
        [.. Batches.TakeWhile(b => b.Lower.Time <= asOf).SelectMany(b => b.Parts)];

    /// <summary>Every part name the state refers to, live or retired.</summary>
    public IEnumerable<string> ReferencedParts() =>
        Batches.SelectMany(b => b.Parts).Concat(Retired.Select(r => r.Part)).Select(p => p.Name);

    /// <summary>True when the state refers to one of <paramref name="parts"/>: the command that brings them landed
    /// before (part names are never reused).</summary>
    private bool NamesAny(ImmutableArray<PartRef> parts)
    {
        if (parts.IsEmpty) return false;
        var names = parts.Select(p => p.Name).ToHashSet();
        return ReferencedParts().Any(names.Contains);
    }

    /// <summary>What is wrong with the parts a command brings (their names are checked against the shard at the
    /// grain's entry), or null.</summary>
    private static string? InvalidParts(ImmutableArray<PartRef> parts)
    {
        if (parts.Any(p => p.Bytes < 0 || p.Updates < 1)) return "A part must hold at least one update and a byte count ≥ 0.";
        if (parts.Any(p => p.Inline is { } inline && (inline.IsDefault || inline.Length != p.Updates || inline.Any(u => u is null))))
            return "An inline part must hold exactly as many updates as it counts.";
        if (parts.Select(p => p.Name).Distinct().Count() != parts.Length) return "A part is named twice.";
        return null;
    }

    private static Outcome<TAnswer> Applied<TAnswer>(ShardState next, TAnswer answer) => new Outcome<TAnswer>.Applied(next, answer);

    private static Outcome<TAnswer> Unchanged<TAnswer>(TAnswer answer, string reason) => new Outcome<TAnswer>.Unchanged(answer, reason);

    private static Outcome<TAnswer> Reject<TAnswer>(ShardException error) => new Outcome<TAnswer>.Rejected(error);

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
            if (retired.Part.IsInline) problems.Add($"part {retired.Part.Name} is inline, so has no blob to collect, yet is retired");
            if (live.Contains(retired.Part.Name)) problems.Add($"part {retired.Part.Name} is both live and retired");
            if (retired.RetiredAt >= SeqNo) problems.Add($"part {retired.Part.Name} retired at {retired.RetiredAt}, beyond seqno {SeqNo}");
        }
        if (!Readers.IsEmpty && Since != Readers.Values.Select(r => r.Since).Min())
            problems.Add($"since {Since} is not the meet of the readers' sinces");
        if (!Readers.IsEmpty && Readers.MinSince != Readers.Values.Select(r => r.Since).Min())
            problems.Add($"the readers' index says their meet is {Readers.MinSince}, not {Readers.Values.Select(r => r.Since).Min()}");
        if (SeqNoSince != Readers.Values.Select(r => r.SeqNoHold).Append(SeqNo).Min())
            problems.Add($"the readers' index says seqno since is {SeqNoSince}");
        return problems;
    }
}
