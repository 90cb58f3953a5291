using System.Collections.Immutable;
using CsCheck;
using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

public sealed class ShardStateTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    private static Batch NewBatch(ulong lower, ulong upper, string key, params PartRef[] parts) =>
        new(F(lower), F(upper), [.. parts], key);

    private static Outcome<AppendResult> Append(ShardState state, ulong expected, ulong upper, string key = "k") =>
        state.Apply(new AppendBatch(NewBatch(expected, upper, key), F(expected)), Now);

    [Fact]
    public void Append_at_the_upper_advances_upper_and_seqno()
    {
        var applied = Assert.IsType<Outcome<AppendResult>.Applied>(Append(new ShardState(), 0, 5));

        Assert.Equal(F(5), applied.Next.Upper);
        Assert.Equal(1UL, applied.Next.SeqNo);
        Assert.Equal(new AppendResult(AppendOutcome.Applied, F(5), 1), applied.Answer);
        Assert.Empty(applied.Next.Violations());
    }

    [Fact]
    public void Append_at_a_stale_upper_answers_the_current_upper_without_a_change()
    {
        var state = ((Outcome<AppendResult>.Applied)Append(new ShardState(), 0, 5, "first")).Next;

        var unchanged = Assert.IsType<Outcome<AppendResult>.Unchanged>(
            state.Apply(new AppendBatch(NewBatch(3, 9, "second"), F(3)), Now));

        Assert.Equal(new AppendResult(AppendOutcome.UpperMismatch, F(5), 1), unchanged.Answer);
    }

    [Fact]
    public void Retried_append_with_the_same_key_is_applied_once()
    {
        var state = ((Outcome<AppendResult>.Applied)Append(new ShardState(), 0, 5, "once")).Next;
        state = ((Outcome<AppendResult>.Applied)Append(state, 5, 7, "other")).Next;

        var retry = Assert.IsType<Outcome<AppendResult>.Unchanged>(Append(state, 0, 5, "once"));

        Assert.Equal(new AppendResult(AppendOutcome.AlreadyApplied, F(5), 2), retry.Answer);
    }

    [Theory]
    [InlineData(5UL, 5UL)]
    [InlineData(5UL, 4UL)]
    public void Append_that_does_not_advance_upper_is_rejected(ulong expected, ulong upper)
    {
        var state = ((Outcome<AppendResult>.Applied)Append(new ShardState(), 0, 5)).Next;

        var rejected = Assert.IsType<Outcome<AppendResult>.Rejected>(
            state.Apply(new AppendBatch(new Batch(F(expected), F(upper), [], "x"), F(expected)), Now));

        Assert.IsType<InvalidAppendException>(rejected.Error);
    }

    [Fact]
    public void Snapshot_below_since_is_rejected()
    {
        var state = ((Outcome<AppendResult>.Applied)Append(new ShardState(), 0, 10)).Next with { Since = F(4) };

        var error = Assert.Throws<AsOfBeforeSinceException>(() => state.Snapshot(3));

        Assert.Equal(F(4), error.Since);
        Assert.NotNull(state.Snapshot(4));
    }

    [Fact]
    public void Snapshot_at_or_beyond_upper_is_not_ready()
    {
        var state = ((Outcome<AppendResult>.Applied)Append(new ShardState(), 0, 10)).Next;

        Assert.Null(state.Snapshot(10));
        Assert.NotNull(state.Snapshot(9));
    }

    /// <summary>
    /// Random appends (in order, stale, retried, out of range) against a model that is just the list of accepted
    /// updates: the state never breaks its structure, upper and seqno never go back (S1), and every snapshot as of
    /// any readable time holds exactly the model's updates (S3).
    /// </summary>
    [Fact]
    public void Random_appends_keep_upper_monotone_and_snapshots_exact()
    {
        var step = Gen.Select(Gen.Int[0, 3], Gen.UInt[1, 4], Gen.Int[0, 3], Gen.Long[-2, 2]);
        step.Array[1, 40].Sample(steps =>
        {
            var state = new ShardState();
            var stored = new Dictionary<string, ImmutableArray<Update>>();
            var model = new List<Update>();
            var keys = new List<string>();
            var n = 0;
            foreach (var (kind, width, key, diff) in steps)
            {
                var expected = kind switch
                {
                    0 when state.Upper.Time > 0 => state.Upper.Time - 1, // stale
                    1 when keys.Count > 0 => 0UL,                       // retry of the first append
                    _ => state.Upper.Time,
                };
                var idempotencyKey = kind == 1 && keys.Count > 0 ? keys[0] : $"k{n++}";
                var updates = ImmutableArray.Create(Enumerable.Range(0, (int)width)
                    .Select(i => new Update($"key{(key + i) % 3}", "v", expected + (ulong)i, diff)).ToArray());
                var part = new PartRef($"p{n}", 1, updates.Length);
                var before = state;

                var outcome = state.Apply(new AppendBatch(new Batch(F(expected), F(expected + width), [part], idempotencyKey), F(expected)), Now);

                if (outcome is Outcome<AppendResult>.Applied applied)
                {
                    stored[part.Name] = updates;
                    model.AddRange(updates);
                    keys.Add(idempotencyKey);
                    state = applied.Next;
                    Assert.Equal(before.SeqNo + 1, state.SeqNo);
                }
                Assert.True(state.Upper >= before.Upper, "upper went back");
                Assert.Empty(state.Violations());
                for (var asOf = 0UL; asOf < state.Upper.Time; asOf++)
                {
                    var snapshot = state.Snapshot(asOf)!;
                    Assert.Equal(Consolidation.AsOf(model, asOf).ToArray(),
                        Consolidation.AsOf(snapshot.Parts.SelectMany(p => stored[p.Name]), asOf).ToArray());
                }
            }
        }, iter: 2000);
    }
}
