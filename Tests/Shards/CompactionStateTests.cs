using System.Collections.Immutable;
using CsCheck;
using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

public sealed class CompactionStateTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;
    private static readonly LeaseSettings Lease = new() { LeaseDuration = TimeSpan.FromSeconds(60) };
    private static readonly CompactionPolicy Pairs = new(Fanout: 2);
    private static readonly CompactionPolicy InlineOut = Pairs with { MinBatches = 1_000, InlineBytesTrigger = 15 };

    private static ShardState Applied<TAnswer>(ShardState state, ShardCommand<TAnswer> command) =>
        Assert.IsType<Outcome<TAnswer>.Applied>(state.Apply(command, Now)).Next;

    private static ShardState AppendOne(ShardState state, string key) =>
        Applied(state, new AppendBatch(new Batch(state.Upper, F(state.Upper.Time + 1),
            [new PartRef($"{key}.json", 10, 1)], key), state.Upper));

    [Fact]
    public void Compaction_swaps_the_run_and_retires_its_parts_at_the_new_seqno()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        var run = state.CompactionCandidates(Pairs);

        var next = Applied(state, new CompactBatches(run, [new PartRef("ab.json", 15, 2)]));

        var merged = Assert.Single(next.Batches);
        Assert.Equal((F(0), F(2), "ab.json"), (merged.Lower, merged.Upper, merged.Parts.Single().Name));
        Assert.Equal(["a.json", "b.json"], next.Retired.Select(r => r.Part.Name));
        Assert.All(next.Retired, r => Assert.Equal(state.SeqNo, r.RetiredAt)); // the last state that named them
        Assert.Empty(next.Violations());
    }

    [Fact]
    public void Compaction_of_batches_that_changed_meanwhile_changes_nothing()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        var run = state.CompactionCandidates(Pairs);
        var compacted = Applied(state, new CompactBatches(run, [new PartRef("ab.json", 15, 2)]));

        Assert.IsType<Outcome<bool>.Unchanged>(compacted.Apply(new CompactBatches(run, [new PartRef("ab2.json", 15, 2)]), Now));
    }

    [Fact]
    public void Commands_whose_write_landed_but_answer_was_lost_answer_applied_when_re_applied()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        var run = state.CompactionCandidates(Pairs);
        var compaction = new CompactBatches(run, [new PartRef("ab.json", 15, 2)]);
        var compacted = Applied(state, compaction);
        var append = new AppendBatch(new Batch(F(2), F(3), [new PartRef("c.json", 10, 1)], "c"), F(2));
        var appended = Applied(compacted, append);

        // After a reload, the writer loop applies the same commands again: their parts must not look unreferenced.
        Assert.True(Assert.IsType<Outcome<bool>.Unchanged>(appended.Apply(compaction, Now)).Answer);
        Assert.Equal(AppendOutcome.Applied, Assert.IsType<Outcome<AppendResult>.Unchanged>(appended.Apply(append, Now)).Answer.Outcome);
    }

    [Fact]
    public void An_inline_append_past_the_inline_cap_is_refused_and_a_stored_one_is_not()
    {
        var state = Applied(new ShardState(), InlineAppend(new ShardState(), "a"));

        var refused = state.Apply(InlineAppend(state, "b", cap: 15), Now);

        Assert.IsType<InlineFullException>(Assert.IsType<Outcome<AppendResult>.Rejected>(refused).Error);
        Assert.IsType<Outcome<AppendResult>.Applied>(state.Apply(InlineAppend(state, "b", cap: 20), Now)); // exactly at the cap
        var stored = new AppendBatch(new Batch(F(1), F(2), [new PartRef("b.json", 10, 1)], "b"), F(1), InlineBytesMax: 15);
        Assert.IsType<Outcome<AppendResult>.Applied>(state.Apply(stored, Now));
    }

    [Fact]
    public void Compacting_inline_batches_retires_nothing_and_their_output_must_be_stored()
    {
        var state = Applied(new ShardState(), InlineAppend(new ShardState(), "a"));
        state = Applied(state, InlineAppend(state, "b"));
        var run = state.CompactionCandidates(Pairs);

        Assert.IsType<Outcome<bool>.Rejected>(state.Apply(new CompactBatches(run, [new PartRef("ab.json", 15, 2, [At(0, "a"), At(1, "b")])]), Now));
        var next = Applied(state, new CompactBatches(run, [new PartRef("ab.json", 15, 2)]));

        Assert.Empty(next.Retired); // a reader that leased them holds their updates: no blob to keep
        Assert.Equal(0, next.InlineBytes);
        Assert.Empty(next.Violations());
    }

    [Fact]
    public void Inline_bytes_over_their_trigger_compact_the_inline_batches_whatever_their_number()
    {
        var policy = new CompactionPolicy(Fanout: 2, MinBatches: 1_000, InlineBytesTrigger: 15);
        var state = AppendOne(new ShardState(), "stored");
        state = Applied(state, InlineAppend(state, "a"));
        Assert.Empty(state.CompactionCandidates(policy)); // 10 inline bytes: within

        state = Applied(state, InlineAppend(state, "b"));

        Assert.Equal([F(1), F(2)], state.CompactionCandidates(policy).Select(b => b.Lower));
        Assert.Empty(state.CompactionCandidates(policy with { MinBatches = int.MaxValue })); // compaction off
    }

    /// <summary>An inline append of one update at the state's upper, 10 bytes, under an inline cap.</summary>
    private static AppendBatch InlineAppend(ShardState state, string key, long cap = long.MaxValue) =>
        new(new Batch(state.Upper, F(state.Upper.Time + 1), [new PartRef($"{key}.json", 10, 1, [At(state.Upper.Time, key)])], key),
            state.Upper, cap);

    [Fact]
    public void A_retried_append_whose_batch_was_compacted_is_still_recognised()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), []));

        var retry = state.Apply(new AppendBatch(new Batch(F(0), F(1), [], "a"), F(0)), Now);

        Assert.Equal(AppendOutcome.AlreadyApplied, Assert.IsType<Outcome<AppendResult>.Unchanged>(retry).Answer.Outcome);
    }

    [Fact]
    public void A_compacted_key_is_kept_as_a_digest_and_answers_its_own_retry_only()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), []));

        Assert.Equal(2, state.CompactedKeys.Count);
        Assert.All(state.CompactedKeys, k => Assert.Null(k.Key));
        var other = state.Apply(new AppendBatch(new Batch(F(0), F(1), [], "not-a"), F(0)), Now);
        Assert.Equal(AppendOutcome.UpperMismatch, Assert.IsType<Outcome<AppendResult>.Unchanged>(other).Answer.Outcome);
    }

    [Fact]
    public void A_compacted_key_a_state_stored_before_kept_whole_still_answers_its_retry()
    {
        var state = AppendOne(AppendOne(new ShardState(), "a"), "b");
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), []));
        state = state with { CompactedKeys = [new CompactedKey("a", F(1)), new CompactedKey("b", F(2))] };

        var retry = state.Apply(new AppendBatch(new Batch(F(1), F(2), [], "b"), F(1)), Now);
        var other = state.Apply(new AppendBatch(new Batch(F(1), F(2), [], "not-b"), F(1)), Now);

        Assert.Equal(AppendOutcome.AlreadyApplied, Assert.IsType<Outcome<AppendResult>.Unchanged>(retry).Answer.Outcome);
        Assert.Equal(AppendOutcome.UpperMismatch, Assert.IsType<Outcome<AppendResult>.Unchanged>(other).Answer.Outcome);
    }

    [Fact]
    public void Retired_parts_become_garbage_only_once_every_hold_has_passed_them()
    {
        var state = Applied(AppendOne(new ShardState(), "a"), Register(new ReaderId("r"), Lease));
        var lease = (Outcome<LeasedSnapshot?>.Applied)state.Apply(new LeaseSnapshot(new ReaderId("r"), F(0), 0), Now);
        state = AppendOne(lease.Next, "b");
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), [new PartRef("ab.json", 15, 2)]));
        state = Applied(state, new SyncReader(new ReaderId("r"), F(0), []));

        Assert.Empty(state.Garbage());
        Assert.IsType<Outcome<int>.Unchanged>(state.Apply(new ForgetDeletedParts(["a.json"]), Now));

        state = Applied(state, new SyncReader(new ReaderId("r"), F(0), [lease.Answer!.LeaseId]));

        Assert.Equal(["a.json", "b.json"], state.Garbage().Select(p => p.Name));
        state = Applied(state, new ForgetDeletedParts(["a.json", "b.json"]));
        Assert.Empty(state.Retired);
    }

    /// <summary>
    /// The model-based test: random appends, reader opens/downgrades/leases/returns/expiries, compactions (really
    /// merging the stored updates), garbage collection (really deleting from the store) and clock advances. After
    /// every step: the state's invariants hold, every readable snapshot equals the model (S3), every part of a valid
    /// lease is still stored and reads as it did when leased (S4), and nothing a batch names is deleted.
    /// Writes that landed are also re-applied later (a write in doubt that succeeded, re-applied after a reload — perhaps
    /// after compaction merged it again), and the caller does with the answer what the part worker or compactor does:
    /// it deletes its parts unless told the write landed.
    /// </summary>
    [Fact]
    public void Random_histories_with_compaction_and_gc_keep_reads_exact_and_held_parts_stored()
    {
        var step = Gen.Select(Gen.Int[0, 10], Gen.Int[0, 1], Gen.UInt[0, 3], Gen.Int[0, 30], Diff.Array[3]);
        step.Array[1, 80].Sample(steps =>
        {
            var state = new ShardState();
            var now = Now;
            var store = new Dictionary<string, ImmutableArray<Update>>();
            var model = new List<Update>();
            // Keyed by seqno too: a reader that ended and registered again numbers its leases from the start.
            var leased = new Dictionary<(string Reader, ulong LeaseId, ulong SeqNo), (ulong AsOf, ImmutableArray<(string, string, Int128)> Contents, ImmutableArray<PartRef> Parts)>();
            var landed = new List<ShardCommand>();
            // Each reader's listener: where it started, how far it has read, what it yielded, and the batches it has
            // leased but not read yet (read a round later, after whatever compaction and GC ran meanwhile).
            var listeners = new Dictionary<string, (ulong Start, ulong After, List<Update> Yielded, LeasedSnapshot? Leased)>();
            var n = 0;
            foreach (var (kind, who, x, seconds, diffs) in steps)
            {
                now += TimeSpan.FromSeconds(seconds);
                var reader = new ReaderId($"r{who}");
                var current = state.Readers.GetValueOrDefault(reader.Value);
                var since = current?.Since ?? state.Since;

                // Moves the state on, if the command applies.
                bool TryApply<TAnswer>(ShardCommand<TAnswer>? command, Action<TAnswer>? answered = null)
                {
                    if (command is null || state.Apply(command, now) is not Outcome<TAnswer>.Applied applied) return false;
                    state = applied.Next;
                    if (command is AppendBatch or CompactBatches) landed.Add(command);
                    answered?.Invoke(applied.Answer);
                    return true;
                }
                var changed = kind switch
                {
                    0 or 1 => TryApply(NewAppend(state, x, diffs, ref n, store, model)),
                    2 => TryApply(Register(reader, Lease)),
                    3 => TryApply(new SyncReader(reader, F(since.Time + x), [])),
                    4 => TryApply(new LeaseSnapshot(reader, since, since.Time + x),
                        lease => leased[(reader.Value, lease!.LeaseId, lease.SeqNo)] = (lease.AsOf, Consolidation.AsOf(model, lease.AsOf), lease.Parts)),
                    5 => TryApply(new SyncReader(reader, since, [.. (current?.Leases.Keys ?? []).Take(1)])),
                    6 => state.CompactionCandidates(who == 0 ? Pairs : InlineOut) is { IsEmpty: false } run && TryApply(Compact(state, run, ref n, store)),
                    7 => TryApply(Collect(state, store)),
                    8 => TryApply(new ExpireReader(reader)),
                    10 => current is not null && ListenRound(),
                    _ => false,
                };

                // One round of the reader's listener: read the batches it leased last round and give the lease back (S4:
                // their parts are still stored), or lease the batches after its progress.
                bool ListenRound()
                {
                    var (start, after, yielded, held) = listeners.GetValueOrDefault(reader.Value, (since.Time, since.Time, [], null));
                    if (held is not null)
                    {
                        if (!current.Leases.TryGetValue(held.LeaseId, out var heldAt) || heldAt != held.SeqNo)
                        {
                            listeners.Remove(reader.Value); // the reader ended (its lease ids start again), or another step returned the lease
                            return false;
                        }
                        yielded.AddRange(held.Parts.SelectMany(p => Read(p, store)).Where(u => u.Time > after && u.Time <= held.AsOf));
                        listeners[reader.Value] = (start, held.AsOf, yielded, null);
                        return TryApply(new SyncReader(reader, since, [held.LeaseId]));
                    }
                    switch (state.Apply(new LeaseAfter(reader, since, after), now))
                    {
                        case Outcome<LeasedSnapshot?>.Rejected:
                            listeners.Remove(reader.Value); // its since moved past its progress, or it ended
                            return false;
                        case Outcome<LeasedSnapshot?>.Applied { Next: var next, Answer: { } lease }:
                            state = next;
                            listeners[reader.Value] = (start, after, yielded, lease);
                            return true;
                        default:
                            listeners[reader.Value] = (start, after, yielded, null); // nothing after its progress yet
                            return false;
                    }
                }
                if (kind == 9 && landed.Count > 0)
                {
                    var (appliedAgain, deleted) = ApplyAgain(state, landed[^(1 + (int)(x % landed.Count))], now);
                    Assert.False(appliedAgain, "a write that landed was applied twice (S6)");
                    foreach (var part in deleted) store.Remove(part.Name);
                }
                else if (!changed) continue;

                Assert.Empty(state.Violations());
                Assert.All(state.Batches.SelectMany(b => b.Parts), p => Assert.True(p.IsInline || store.ContainsKey(p.Name), $"live part {p.Name} deleted"));
                for (var asOf = state.Since.Time; asOf < state.Upper.Time; asOf++)
                    Assert.Equal(Consolidation.AsOf(model, asOf).ToArray(),
                        Consolidation.AsOf(state.Snapshot(asOf)!.Parts.SelectMany(p => Read(p, store)), asOf).ToArray());
                // A listener has yielded exactly the updates written after its start, through its progress, once each,
                // whatever compaction merged meanwhile.
                foreach (var (start, after, yielded, _) in listeners.Values)
                    Assert.Equal(Consolidation.Merge(model.Where(u => u.Time > start && u.Time <= after), Frontier.Minimum).ToArray(),
                        Consolidation.Merge(yielded, Frontier.Minimum).ToArray());
                foreach (var ((id, leaseId, seqNo), (asOf, contents, parts)) in leased)
                {
                    if (!state.Readers.TryGetValue(id, out var r) || !r.Leases.TryGetValue(leaseId, out var at) || at != seqNo) continue; // returned or expired
                    Assert.All(parts, p => Assert.True(p.IsInline || store.ContainsKey(p.Name), $"leased part {p.Name} deleted (S4)"));
                    Assert.Equal(contents.ToArray(), Consolidation.AsOf(parts.SelectMany(p => Read(p, store)), asOf).ToArray());
                }
            }
        }, iter: 2000);
    }

    /// <summary>Mostly ±1, sometimes a diff at the edge of long, so sums leave long in reads and in compaction.</summary>
    private static readonly Gen<long> Diff = Gen.Frequency(
        (6, 1L), (6, -1L), (1, long.MaxValue), (1, long.MaxValue - 1), (1, long.MinValue), (1, long.MinValue + 1));

    private static AppendBatch NewAppend(ShardState state, uint width, long[] diffs, ref int n,
        Dictionary<string, ImmutableArray<Update>> store, List<Update> model)
    {
        var lower = state.Upper.Time;
        var seed = n++;
        ImmutableArray<Update> updates = [.. Enumerable.Range(0, (int)width).Select(i => new Update($"k{(seed + i) % 3}", "v", lower + (ulong)i, diffs[i]))];
        var name = $"p{seed}";
        model.AddRange(updates); // an append at the current upper always applies
        if (updates.IsEmpty) return new AppendBatch(new Batch(F(lower), F(lower + width + 1), [], name), F(lower));
        var inline = seed % 2 == 0; // half the appends keep their updates in the state
        if (!inline) store[name] = updates;
        var part = new PartRef(name, 10, updates.Length, inline ? updates : null);
        return new AppendBatch(new Batch(F(lower), F(lower + width + 1), [part], name), F(lower));
    }

    private static CompactBatches Compact(ShardState state, ImmutableArray<Batch> run, ref int n, Dictionary<string, ImmutableArray<Update>> store)
    {
        var merged = Consolidation.Merge(run.SelectMany(b => b.Parts).SelectMany(p => Read(p, store)), state.Since);
        var name = $"c{n++}";
        store[name] = merged;
        return new CompactBatches(run, merged.IsEmpty ? [] : [new PartRef(name, 1, merged.Length)]);
    }

    /// <summary>Applies a write that landed again: whether it applied, and the parts the part worker (append) or
    /// compactor (compaction) deletes on its answer.</summary>
    private static (bool Applied, ImmutableArray<PartRef> Deleted) ApplyAgain(ShardState state, ShardCommand write, DateTimeOffset now) => write switch
    {
        AppendBatch append => state.Apply(append, now) switch
        {
            Outcome<AppendResult>.Applied => (true, []),
            Outcome<AppendResult>.Rejected { Error: InvalidInputException } => (false, append.Batch.Parts),
            Outcome<AppendResult>.Unchanged { Answer.Outcome: not AppendOutcome.Applied } => (false, append.Batch.Parts),
            _ => (false, []),
        },
        CompactBatches compaction => state.Apply(compaction, now) switch
        {
            Outcome<bool>.Applied => (true, []),
            Outcome<bool>.Unchanged { Answer: false } => (false, compaction.Parts),
            _ => (false, []),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(write), write, "Only appends and compactions land."),
    };

    /// <summary>A part's updates: its own when inline, else as stored.</summary>
    private static ImmutableArray<Update> Read(PartRef part, Dictionary<string, ImmutableArray<Update>> store) =>
        part.Inline ?? store[part.Name];

    private static ForgetDeletedParts? Collect(ShardState state, Dictionary<string, ImmutableArray<Update>> store)
    {
        var garbage = state.Garbage();
        foreach (var part in garbage) store.Remove(part.Name);
        return garbage.IsEmpty ? null : new ForgetDeletedParts([.. garbage.Select(p => p.Name)]);
    }
}
