using System.Collections.Immutable;
using CsCheck;
using Orleans.Leases.Hosting;
using Orleans.Leases.Shards;
using Xunit.Abstractions;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

/// <summary>
/// The shape compaction keeps: each batch holds more than (fanout − 1)× the updates of all newer batches together.
/// Once compaction catches up, a shard of n live updates then has at most MinBatches + 2 + log_fanout(n) batches,
/// whatever the mix of batch sizes. With merges that keep every update, an update appended in a batch of s updates
/// is rewritten at most 1 + log_(fanout/(fanout−1))(N / s) times, N the updates appended.
/// </summary>
public sealed class CompactionPolicyTests(ITestOutputHelper output)
{
    private const int MaxSize = 10_000;
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;
    private static readonly CompactionPolicy Pairs = new(Fanout: 2);
    private static readonly CompactionPolicy Configured =
        new(new ShardServiceOptions().CompactionFanout, new ShardServiceOptions().CompactionMinBatches);

    [Fact]
    public void The_run_starts_at_the_oldest_batch_newer_ones_outweigh_and_ends_at_the_newest()
    {
        // Fanout 2: 100 > 10 + 1 + 50, but 10 ≤ 1 + 50 (and 1 ≤ 50): the run is 10, 1, 50.
        Assert.Equal(["b1", "b2", "b3"], Keys(WithSizes(100, 10, 1, 50).CompactionCandidates(Pairs)));
        Assert.Empty(WithSizes(100, 10, 1).CompactionCandidates(Pairs));

        // Fanout 4: an older batch must hold more than 3× all newer ones.
        Assert.Equal(["b0", "b1"], Keys(WithSizes(30, 10).CompactionCandidates(new CompactionPolicy(Fanout: 4))));
        Assert.Empty(WithSizes(31, 10).CompactionCandidates(new CompactionPolicy(Fanout: 4)));
    }

    [Fact]
    public void A_big_new_batch_is_merged_with_all_older_batches_it_outweighs_in_one_run()
    {
        // Merging it with each older batch in turn would rewrite it once per batch.
        Assert.Equal(["b0", "b1", "b2", "b3", "b4"], Keys(WithSizes(8, 4, 2, 1, 20).CompactionCandidates(Pairs)));
    }

    [Fact]
    public void Nothing_is_compacted_below_MinBatches_then_the_whole_run_is()
    {
        var policy = new CompactionPolicy(Fanout: 2, MinBatches: 5);

        Assert.Empty(WithSizes(1, 1, 1, 1).CompactionCandidates(policy));
        Assert.Equal(["b0", "b1", "b2", "b3", "b4"], Keys(WithSizes(1, 1, 1, 1, 1).CompactionCandidates(policy)));
    }

    [Fact]
    public void An_empty_batch_joins_the_run_of_the_newer_batches_and_the_newest_alone_is_no_run()
    {
        Assert.Equal(["b1", "b2"], Keys(WithSizes(5, 0, 3).CompactionCandidates(Pairs)));
        Assert.Empty(WithSizes(5, 0).CompactionCandidates(Pairs));
    }

    [Fact]
    public void Sizes_between_levels_no_longer_strand_batches()
    {
        // 1 and 100 alternate: under the level rule no two neighbours ever shared a level.
        foreach (var policy in new[] { Configured, Pairs, new CompactionPolicy(Fanout: 4) })
        {
            var shard = new Shard(s => s.CompactionCandidates(policy));
            for (var i = 0; i < 4096; i++)
            {
                shard.Append(i % 2 == 0 ? 1 : 100);
                shard.CatchUp();
            }
            AssertFewBatches(shard, policy);
            AssertFewRewrites(shard, policy);
        }
    }

    /// <summary>
    /// Random size sequences (any mix, small mixes, equal, increasing, geometrically increasing, decreasing,
    /// alternating) under a compactor that keeps up, lags by a few appends (a run taken from one state lands after
    /// later appends, as the compactor grain's CAS does), or lets bursts of hundreds of appends pile up. Wherever it
    /// has caught up the batches are logarithmic in the live updates, and no update was ever rewritten more than
    /// logarithmically often.
    /// </summary>
    [Fact]
    public void Any_sizes_keep_batches_and_rewrites_logarithmic()
    {
        Gen.Select(SizeSequences, Schedules, Policies).Sample((sizes, schedule, policy) =>
        {
            var shard = new Shard(s => s.CompactionCandidates(policy));
            AppendAndCompact(shard, sizes, schedule, policy);
            AssertFewRewrites(shard, policy);
        }, iter: 1000);
    }

    /// <summary>Merging sums equal updates and drops zeros, so a merged batch may hold fewer updates than its inputs
    /// (here any number from none to all): the batches stay logarithmic in the updates still live.</summary>
    [Fact]
    public void Merges_that_drop_updates_keep_batches_logarithmic_in_the_live_updates()
    {
        Gen.Select(SizeSequences, Schedules, Policies, Gen.Int).Sample((sizes, schedule, policy, seed) =>
        {
            var random = new Random(seed);
            var shard = new Shard(s => s.CompactionCandidates(policy), kept => (long)(kept * random.NextDouble()));
            AppendAndCompact(shard, sizes, schedule, policy);
        }, iter: 1000);
    }

    /// <summary>Appends <paramref name="sizes"/>, letting compaction take the steps <paramref name="schedule"/> says
    /// after each append (a negative entry: catch up, and check the batches), then catches up and checks them.</summary>
    private static void AppendAndCompact(Shard shard, int[] sizes, int[] schedule, CompactionPolicy policy)
    {
        for (var i = 0; i < sizes.Length; i++)
        {
            shard.Append(sizes[i]);
            if (schedule[i % schedule.Length] is var steps && steps < 0)
            {
                shard.CatchUp();
                AssertFewBatches(shard, policy);
            }
            else for (var s = 0; s < steps; s++) shard.Step();
        }
        shard.CatchUp();
        AssertFewBatches(shard, policy);
    }

    /// <summary>The figures in the README: 4,096 appends, compaction caught up after each.</summary>
    [Fact]
    public void Batches_and_rewrites_after_4096_appends_under_the_level_rule_and_this_one()
    {
        (string Name, Func<Random, int, int> Size)[] mixes =
        [
            ("1–100", (r, _) => r.Next(1, 101)), ("1–3", (r, _) => r.Next(1, 4)), ("equal", (_, _) => 10),
            ("1, 100 alternating", (_, i) => i % 2 == 0 ? 1 : 100),
        ];
        (string Name, Func<ShardState, ImmutableArray<Batch>> Candidates)[] rules =
        [
            ("level rule, fanout 4, min 32", s => LevelRule(s, 4, 32)),
            ($"this rule, fanout {Configured.Fanout}, min {Configured.MinBatches}", s => s.CompactionCandidates(Configured)),
            ($"this rule, fanout 4, min {Configured.MinBatches}", s => s.CompactionCandidates(Configured with { Fanout = 4 })),
            ("level rule, fanout 4, min 0", s => LevelRule(s, 4, 0)),
            ($"this rule, fanout {Configured.Fanout}, min 0", s => s.CompactionCandidates(Configured with { MinBatches = 0 })),
        ];
        output.WriteLine("| sizes | rule | batches | rewrites per update: max | mean |");
        foreach (var (mix, size) in mixes)
            foreach (var (rule, candidates) in rules)
            {
                var random = new Random(1);
                var shard = new Shard(candidates);
                for (var i = 0; i < 4096; i++)
                {
                    shard.Append(size(random, i));
                    shard.CatchUp();
                }
                var mean = shard.Sizes.Select((s, u) => (double)s * shard.Rewrites[u]).Sum() / shard.Sizes.Sum();
                output.WriteLine($"| {mix} | {rule} | {shard.State.Batches.Count} | {shard.Rewrites.Max()} | {mean:0.0} |");
            }
    }

    private static readonly Gen<int[]> SizeSequences = Gen.Int[1, 600].SelectMany(n => Gen.OneOf(
        Gen.Int[1, MaxSize].Array[n],
        Gen.Int[1, 3].Array[n],
        Gen.Int[1, MaxSize].Select(size => Enumerable.Repeat(size, n).ToArray()),
        Gen.Int[1, 50].Select(step => Enumerable.Range(1, n).Select(i => Math.Min(MaxSize, i * step)).ToArray()),
        Gen.Double[1.01, 3].Select(ratio => Enumerable.Range(0, n).Select(i => (int)Math.Min(MaxSize, Math.Pow(ratio, i))).ToArray()),
        Gen.Int[1, 50].Select(step => Enumerable.Range(0, n).Select(i => Math.Max(1, MaxSize - i * step)).ToArray()),
        Gen.Select(Gen.Int[1, MaxSize], Gen.Int[1, MaxSize]).Select((a, b) => Enumerable.Range(0, n).Select(i => i % 2 == 0 ? a : b).ToArray())));

    /// <summary>Compactor steps after each append, cycled: −1 catches up; a step takes a run or lands the one taken.</summary>
    private static readonly Gen<int[]> Schedules = Gen.OneOf(
        Gen.Int[-1, 2].Array[1, 16],
        Gen.Int[1, 300].Select(burst => new int[burst].Append(-1).ToArray()));

    private static readonly Gen<CompactionPolicy> Policies =
        Gen.Select(Gen.Int[2, 8], Gen.OneOf(Gen.Const(0), Gen.Int[1, 40])).Select((fanout, min) => new CompactionPolicy(fanout, min));

    /// <summary>Caught up: fewer than MinBatches batches, or each but the newest holds more than (fanout − 1)× all
    /// newer ones, so the live updates are at least fanout^(batches − 2).</summary>
    private static void AssertFewBatches(Shard shard, CompactionPolicy policy)
    {
        var batches = shard.State.Batches.Count;
        if (batches >= Math.Max(policy.MinBatches, 2))
            Assert.True(Math.Pow(policy.Fanout, batches - 2) <= shard.Live,
                $"{batches} batches hold only {shard.Live} live updates (fanout {policy.Fanout}, min {policy.MinBatches})");
        // In appends: live ≤ appends × MaxSize, so batches ≤ MinBatches + c·log2(appends) + k with c = 1/log2(fanout).
        var c = 1 / Math.Log2(policy.Fanout);
        Assert.True(batches <= policy.MinBatches + 2 + c * (Math.Log2(shard.Sizes.Count) + Math.Log2(MaxSize)),
            $"{batches} batches after {shard.Sizes.Count} appends");
    }

    /// <summary>After an update's first rewrite, each one at least multiplies the updates of its batch by
    /// fanout/(fanout − 1), up to all of them.</summary>
    private static void AssertFewRewrites(Shard shard, CompactionPolicy policy)
    {
        var c = 1 / Math.Log2(policy.Fanout / (policy.Fanout - 1.0));
        var total = shard.Sizes.Sum(s => (long)s);
        for (var u = 0; u < shard.Sizes.Count; u++)
        {
            Assert.True(shard.Rewrites[u] <= 1 + c * Math.Log2((double)total / shard.Sizes[u]) + 1e-9,
                $"append {u} of {shard.Sizes[u]} updates rewritten {shard.Rewrites[u]} times, of {total} updates in all");
            // In appends: c'·log2(appends) + k, with k = 1 + c'·log2(MaxSize).
            Assert.True(shard.Rewrites[u] <= 1 + c * (Math.Log2(shard.Sizes.Count) + Math.Log2(MaxSize)));
        }
    }

    private static ShardState Applied<TAnswer>(ShardState state, ShardCommand<TAnswer> command) =>
        Assert.IsType<Outcome<TAnswer>.Applied>(state.Apply(command, Now)).Next;

    private static ShardState WithSizes(params int[] sizes)
    {
        var shard = new Shard(_ => []);
        foreach (var size in sizes) shard.Append(size);
        return shard.State;
    }

    private static IEnumerable<string> Keys(ImmutableArray<Batch> run) => run.Select(b => b.IdempotencyKey);

    /// <summary>The rule this policy replaced: once a shard has minBatches batches, the oldest run of fanout adjacent
    /// batches of one size level (⌊log2 updates⌋).</summary>
    private static ImmutableArray<Batch> LevelRule(ShardState state, int fanout, int minBatches)
    {
        var batches = state.Batches;
        if (batches.Count < minBatches) return [];
        static int Level(Batch b) => int.Log2(Math.Max(1, b.Parts.Sum(p => p.Updates)));
        var runStart = 0;
        for (var i = 1; i <= batches.Count; i++)
        {
            if (i < batches.Count && Level(batches[i]) == Level(batches[runStart]) && i - runStart < fanout) continue;
            if (i - runStart >= fanout) return [.. batches.GetRange(runStart, fanout)];
            runStart = i;
        }
        return [];
    }

    /// <summary>
    /// A shard under appends (one time unit each, so append u covers [u, u+1)) and a compactor that works as the
    /// compactor grain does: it takes a run from one state and swaps the merged part in later, after any appends in
    /// between. <paramref name="merged"/> says how many of a run's updates its merged part keeps (all, by default).
    /// </summary>
    private sealed class Shard(Func<ShardState, ImmutableArray<Batch>> candidates, Func<long, long>? merged = null)
    {
        private ImmutableArray<Batch> _taken = [];
        private int _parts;

        public ShardState State { get; private set; } = new();

        /// <summary>Updates of each append, by its time.</summary>
        public List<int> Sizes { get; } = [];

        /// <summary>How many merges rewrote each append's updates, by its time.</summary>
        public List<int> Rewrites { get; } = [];

        public long Live => State.Batches.Sum(b => b.Parts.Sum(p => (long)p.Updates));

        public void Append(int updates)
        {
            var name = $"b{_parts++}";
            ImmutableArray<PartRef> parts = updates == 0 ? [] : [new PartRef(name, updates, updates)];
            State = Applied(State, new AppendBatch(new Batch(State.Upper, F(State.Upper.Time + 1), parts, name), State.Upper));
            Sizes.Add(updates);
            Rewrites.Add(0);
        }

        /// <summary>One step of the compactor: lands the run it took, or takes the next; false when there is none.</summary>
        public bool Step()
        {
            if (_taken.IsEmpty)
            {
                _taken = candidates(State);
                return !_taken.IsEmpty;
            }
            var run = _taken;
            _taken = [];
            var sum = run.Sum(b => b.Parts.Sum(p => (long)p.Updates));
            var kept = merged?.Invoke(sum) ?? sum;
            ImmutableArray<PartRef> parts = kept == 0 ? [] : [new PartRef($"b{_parts++}", kept, (int)kept)];
            State = Applied(State, new CompactBatches(run, parts));
            for (var t = run[0].Lower.Time; t < run[^1].Upper.Time; t++) Rewrites[(int)t]++;
            // Garbage collection, so the retired parts do not pile up in the state.
            if (State.Garbage() is { IsEmpty: false } garbage)
                State = Applied(State, new ForgetDeletedParts([.. garbage.Select(p => p.Name)]));
            return true;
        }

        public void CatchUp()
        {
            while (Step()) { }
        }
    }
}
