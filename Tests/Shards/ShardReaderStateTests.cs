using System.Collections.Immutable;
using CsCheck;
using Orleans.Leases.Shards;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

public sealed class ShardReaderStateTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;
    private static readonly LeaseSettings Lease = new() { LeaseDuration = TimeSpan.FromSeconds(60) };
    private static readonly ReaderId A = new("a"), B = new("b");

    private static ShardState Applied<TAnswer>(ShardState state, ShardCommand<TAnswer> command, DateTimeOffset? now = null) =>
        Assert.IsType<Outcome<TAnswer>.Applied>(state.Apply(command, now ?? Start)).Next;

    private static ShardState WithUpper(ulong upper) =>
        Applied(new ShardState(), new AppendBatch(new Batch(F(0), F(upper), [], "k"), F(0)));

    [Fact]
    public void A_registered_reader_starts_at_the_shards_since_and_the_new_seqno()
    {
        var state = Applied(Applied(WithUpper(10), Register(A, Lease)), new SyncReader(A, F(4), []));

        state = Applied(state, Register(B, Lease));

        Assert.Equal(F(4), state.Readers["b"].Since);
        Assert.Equal(state.SeqNo, state.Readers["b"].SeqNoHold);
        Assert.Empty(state.Violations());
    }

    [Fact]
    public void Since_is_the_meet_of_the_readers_and_moves_when_the_holdout_leaves()
    {
        var state = Applied(Applied(WithUpper(10), Register(A, Lease)), Register(B, Lease));
        state = Applied(Applied(state, new SyncReader(A, F(7), [])), new SyncReader(B, F(3), []));
        Assert.Equal(F(3), state.Since);

        state = Applied(state, new ExpireReader(B));

        Assert.Equal(F(7), state.Since);
    }

    [Fact]
    public void A_sync_repeated_or_overtaken_moves_nothing_back_and_still_heartbeats()
    {
        var state = Applied(Applied(WithUpper(10), Register(A, Lease)), new SyncReader(A, F(5), []), Start + TimeSpan.FromSeconds(20));

        state = Applied(state, new SyncReader(A, F(4), []), Start + TimeSpan.FromSeconds(30));

        Assert.Equal(F(5), state.Readers["a"].Since);
        Assert.Equal(Start + TimeSpan.FromSeconds(30), state.Readers["a"].LastHeartbeat);
    }

    [Fact]
    public void A_heartbeat_time_never_moves_back()
    {
        var state = Applied(WithUpper(10), Register(A, Lease), Start + TimeSpan.FromSeconds(30));

        state = Applied(state, new SyncReader(A, F(1), []), Start);

        Assert.Equal(Start + TimeSpan.FromSeconds(30), state.Readers["a"].LastHeartbeat);
        Assert.Equal(F(1), state.Readers["a"].Since);
    }

    [Fact]
    public void Registering_an_open_reader_with_another_secret_is_refused_and_changes_nothing()
    {
        var state = Applied(WithUpper(10), Register(A, Lease));

        var other = new RegisterReader(A, Lease, TestClient, "someone-else");
        var refused = Assert.IsType<Outcome<ReaderStatus>.Rejected>(state.Apply(other, Start));

        Assert.IsType<AccessDeniedException>(refused.Error);
        Assert.IsType<Outcome<ReaderStatus>.Unchanged>(state.Apply(Register(A, Lease), Start)); // its own client, retrying
    }

    [Theory]
    [InlineData("no client")]
    [InlineData("no secret")]
    [InlineData("no settings")]
    public void A_registration_without_a_client_a_secret_or_settings_is_refused(string missing)
    {
        var command = missing switch
        {
            "no client" => new RegisterReader(A, Lease, default, "hash"),
            "no secret" => new RegisterReader(A, Lease, TestClient, ""),
            _ => new RegisterReader(A, null!, TestClient, "hash"),
        };

        Assert.IsType<InvalidInputException>(Assert.IsType<Outcome<ReaderStatus>.Rejected>(WithUpper(10).Apply(command, Start)).Error);
    }

    [Fact]
    public void A_leased_snapshot_pins_the_hold_until_returned()
    {
        var state = Applied(WithUpper(10), Register(A, Lease));
        var outcome = Assert.IsType<Outcome<LeasedSnapshot?>.Applied>(state.Apply(new LeaseSnapshot(A, F(0), 3), Start));
        var leased = outcome.Answer;
        Assert.NotNull(leased);
        state = outcome.Next;
        for (var i = 0; i < 3; i++) state = Applied(state, new SyncReader(A, F(0), []));
        Assert.Equal(leased.SeqNo, state.Readers["a"].SeqNoHold);
        Assert.Equal(leased.SeqNo, state.SeqNoSince);

        state = Applied(state, new SyncReader(A, F(0), [leased.LeaseId]));

        Assert.Equal(state.SeqNo, state.Readers["a"].SeqNoHold);
    }

    [Fact]
    public void A_lapsed_reader_is_refused_and_removed_by_the_next_change()
    {
        var state = Applied(Applied(WithUpper(10), Register(A, Lease)), Register(B, Lease));
        var later = Start + TimeSpan.FromSeconds(61);
        state = Applied(state, new SyncReader(B, F(0), []), Start + TimeSpan.FromSeconds(30));

        Assert.IsType<LeaseExpiredException>(Assert.IsType<Outcome<ReaderStatus>.Rejected>(state.Apply(new SyncReader(A, F(1), []), later)).Error);
        state = Applied(state, new SyncReader(B, F(2), []), later);

        Assert.Equal(["b"], state.Readers.Keys);
        Assert.Equal(F(2), state.Since);
        Assert.IsType<Outcome<int>.Unchanged>(state.Apply(new ExpireLapsedReaders(), later));
    }

    /// <summary>Random reader lifecycles against the invariants: structure holds, shard since/upper/seqno and each
    /// reader's since and hold never go back (S1), since is the meet (S2), no hold passes an outstanding lease, and
    /// a lease stays recorded until it is returned or its reader is gone.</summary>
    [Fact]
    public void Random_reader_lifecycles_keep_the_invariants()
    {
        var op = Gen.Select(Gen.Int[0, 6], Gen.Int[0, 2], Gen.UInt[0, 3], Gen.Int[-5, 40]);
        op.Array[1, 60].Sample(ops =>
        {
            var state = WithUpper(1);
            var now = Start;
            var model = new Dictionary<string, HashSet<ulong>>(); // reader → lease ids it holds
            foreach (var (kind, who, step, seconds) in ops)
            {
                var reader = new ReaderId($"r{who}");
                var current = state.Readers.GetValueOrDefault(reader.Value);
                var since = current?.Since ?? F(0);
                ImmutableArray<ulong> returned = [.. (current?.Leases.Keys ?? []).Take(1)];
                now += TimeSpan.FromSeconds(seconds); // sometimes back: a clock that stepped, or a call overtaken
                var before = state;

                // Moves the state on and tells the model, if the command applies.
                bool TryApply<TAnswer>(ShardCommand<TAnswer> command, Action<TAnswer>? answered = null)
                {
                    if (state.Apply(command, now) is not Outcome<TAnswer>.Applied applied) return false;
                    state = applied.Next;
                    answered?.Invoke(applied.Answer);
                    return true;
                }
                var changed = kind switch
                {
                    0 => TryApply(Register(reader, Lease), _ => model[reader.Value] = []),
                    1 => TryApply(new SyncReader(reader, F(since.Time + step), [])),
                    2 => TryApply(new LeaseSnapshot(reader, since, since.Time + step), leased => model[reader.Value].Add(leased!.LeaseId)),
                    3 => TryApply(new SyncReader(reader, since, returned), _ => model[reader.Value].ExceptWith(returned)),
                    4 => TryApply(new ExpireReader(reader)),
                    5 => TryApply(new AppendBatch(new Batch(state.Upper, F(state.Upper.Time + step + 1), [], $"k{state.SeqNo}"), state.Upper)),
                    6 when step == 0 => TryApply(new SyncReader(reader, F(0), [])), // repeated or overtaken: a stale since
                    _ => TryApply(new ExpireLapsedReaders()),
                };
                if (!changed) continue;

                foreach (var gone in model.Keys.Where(k => !state.Readers.ContainsKey(k)).ToList()) model.Remove(gone);

                Assert.Empty(state.Violations());
                Assert.True(state.SeqNo == before.SeqNo + 1 && state.Upper >= before.Upper && state.Since >= before.Since, "shard went back");
                Assert.Equal(model.Keys.Order(), state.Readers.Keys);
                foreach (var (id, r) in state.Readers)
                {
                    if (before.Readers.TryGetValue(id, out var was))
                        Assert.True(r.Since >= was.Since && r.SeqNoHold >= was.SeqNoHold && r.LastHeartbeat >= was.LastHeartbeat,
                            $"reader {id} went back");
                    Assert.Equal(model[id].Order(), r.Leases.Keys);
                    Assert.All(r.Leases.Values, seqNo => Assert.True(r.SeqNoHold <= seqNo && state.SeqNoSince <= seqNo));
                }
            }
        }, iter: 3000);
    }
}
