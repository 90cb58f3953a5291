using System.Collections.Immutable;
using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Security;

/// <summary>Hostile and careless values at the pure state machine: each is refused with a typed error and changes
/// nothing, and one bad command never fails its neighbours.</summary>
public sealed class CommandAttackTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;
    private static readonly CompactionPolicy Pairs = new(Fanout: 2);

    private static ShardState Applied<TAnswer>(ShardState state, ShardCommand<TAnswer> command) =>
        Assert.IsType<Outcome<TAnswer>.Applied>(state.Apply(command, Now)).Next;

    private static AppendBatch Append(ShardState state, string key, params PartRef[] parts) =>
        new(new Batch(state.Upper, F(state.Upper.Time + 1), [.. parts], key), state.Upper);

    private static PartRef Part(string name) => new(name, 10, 1);

    private static ShardState Appended(ShardState state, string key) => Applied(state, Append(state, key, Part(key)));

    private static ShardState TwoBatches() => Appended(Appended(new ShardState(), "a"), "b");

    public static TheoryData<string> BadAppends() => ["null batch", "default parts", "null part", "part named twice",
        "negative bytes", "no updates", "empty key", "white-space key", "key too long", "part held already"];

    [Theory]
    [MemberData(nameof(BadAppends))]
    public void A_malformed_append_is_refused_and_changes_nothing(string what)
    {
        var state = TwoBatches();
        var good = Append(state, "c", Part("c"));
        var command = what switch
        {
            "null batch" => good with { Batch = null! },
            "default parts" => good with { Batch = good.Batch with { Parts = default } },
            "null part" => good with { Batch = good.Batch with { Parts = [null!] } },
            "part named twice" => Append(state, "c", Part("c"), Part("c")),
            "negative bytes" => Append(state, "c", new PartRef("c", -1, 1)),
            "no updates" => Append(state, "c", new PartRef("c", 10, 0)),
            "empty key" => Append(state, "", Part("c")),
            "white-space key" => Append(state, "   ", Part("c")),
            "key too long" => Append(state, new string('k', IdempotencyKey.MaxLength + 1), Part("c")),
            _ => Append(state, "c", Part("c"), Part("a")), // a fresh part beside one the shard holds
        };

        var outcome = state.Apply(command, Now);

        if (what == "part held already")
            // Names a part the state holds: only a re-applied write of the part worker's own can, so it answers
            // Applied and changes nothing — never a refusal that would make the worker delete a held part.
            Assert.Equal(AppendOutcome.Applied, Assert.IsType<Outcome<AppendResult>.Unchanged>(outcome).Answer.Outcome);
        else
            Assert.IsAssignableFrom<InvalidInputException>(Assert.IsType<Outcome<AppendResult>.Rejected>(outcome).Error);
    }

    [Fact]
    public void A_bad_command_in_a_group_commit_fails_alone()
    {
        var state = TwoBatches();
        var first = Append(state, "c", Part("c"));
        var second = new AppendBatch(new Batch(F(3), F(4), [Part("d")], "d"), F(3));

        // As the writer loop applies a group: each command to the state the previous left.
        var next = Applied(state, first);
        Assert.IsType<MalformedCommandException>(Assert.IsType<Outcome<int>.Rejected>(next.Apply<int>(null!, Now)).Error);
        Assert.IsType<MalformedCommandException>(Assert.IsType<Outcome<ReaderStatus?>.Rejected>(next.Apply(new ExpireReader(default), Now)).Error);
        Assert.IsType<InvalidAppendException>(Assert.IsType<Outcome<AppendResult>.Rejected>(next.Apply(new AppendBatch(null!, F(3)), Now)).Error);
        next = Applied(next, second);

        Assert.Equal((F(4), state.SeqNo + 2), (next.Upper, next.SeqNo));
        Assert.Empty(next.Violations());
    }

    public static TheoryData<string> BadCompactions() => ["no batches", "null batch", "null part", "keeps a replaced part",
        "part named twice", "no updates"];

    [Theory]
    [MemberData(nameof(BadCompactions))]
    public void A_fabricated_compaction_is_refused_and_changes_nothing(string what)
    {
        var state = TwoBatches();
        var run = state.CompactionCandidates(Pairs);
        var command = what switch
        {
            "no batches" => new CompactBatches([], [Part("ab")]),
            "null batch" => new CompactBatches([run[0], null!], [Part("ab")]),
            "null part" => new CompactBatches(run, [null!]),
            "keeps a replaced part" => new CompactBatches(run, [Part("ab"), Part("a")]),
            "part named twice" => new CompactBatches(run, [Part("ab"), Part("ab")]),
            _ => new CompactBatches(run, [new PartRef("ab", 10, 0)]),
        };

        Assert.IsAssignableFrom<InvalidInputException>(Assert.IsType<Outcome<bool>.Rejected>(state.Apply(command, Now)).Error);
    }

    [Fact]
    public void An_append_re_applied_after_its_batch_was_merged_again_answers_applied()
    {
        var state = new ShardState();
        var append = Append(state, "a", Part("a"));
        state = Appended(Applied(state, append), "b");
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), [Part("ab")])); // "a" is retired

        var again = state.Apply(append, Now);

        // AlreadyApplied would make the part worker delete part "a", which a reader's seqno hold may still protect.
        Assert.Equal(AppendOutcome.Applied, Assert.IsType<Outcome<AppendResult>.Unchanged>(again).Answer.Outcome);
        Assert.Contains("a", state.ReferencedParts());
    }

    [Fact]
    public void A_compaction_re_applied_after_its_output_was_merged_again_answers_that_it_landed()
    {
        var state = TwoBatches();
        var first = new CompactBatches(state.CompactionCandidates(Pairs), [Part("ab")]);
        state = Appended(Applied(state, first), "c"); // as many updates as "ab": merged with it
        state = Applied(state, new CompactBatches(state.CompactionCandidates(Pairs), [Part("abc")])); // "ab" is retired

        // Answering "the run changed" would make the compactor delete "ab", which a hold may still protect.
        Assert.True(Assert.IsType<Outcome<bool>.Unchanged>(state.Apply(first, Now)).Answer);
    }
}
