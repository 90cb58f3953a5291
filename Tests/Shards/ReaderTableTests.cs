using System.Collections.Immutable;
using CsCheck;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Shards;
using Orleans.Serialization;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Shards;

public sealed class ReaderTableTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UnixEpoch;

    /// <summary>Readers with few distinct ids, sinces, holds and lapses, so repeats (and replaced ids) are common.</summary>
    private static readonly Gen<List<(string Id, ReaderState Reader)>> Readers =
        Gen.Select(Gen.Int[0, 8], Gen.ULong[0, 4], Gen.ULong[1, 4], Gen.Int[0, 3], Gen.Int[1, 3], Gen.Bool,
                (id, since, hold, heartbeat, lease, closed) => ($"r{id}", new ReaderState
                {
                    Since = closed && since == 0 ? Frontier.Empty : F(since),
                    SeqNoHold = hold,
                    LastHeartbeat = Start + TimeSpan.FromSeconds(heartbeat),
                    LeaseDuration = TimeSpan.FromSeconds(lease),
                }))
            .List[0, 20];

    [Fact]
    public void A_table_built_at_once_has_the_minima_of_one_built_reader_by_reader()
    {
        Readers.Sample(readers =>
        {
            var one = readers.Aggregate(ReaderTable.Empty, (table, r) => table.SetItem(r.Id, r.Reader));
            var all = ReaderTable.From(readers.Select(r => KeyValuePair.Create(r.Id, r.Reader)));

            Assert.Equal(one.ToList(), all.ToList());
            AssertSameMinima(one, all);
            foreach (var id in one.Keys) AssertSameMinima(one.Remove(id), all.Remove(id)); // the counts of repeats too
        });
    }

    /// <summary>Readers with every field at its default or not, and the odd cases: an empty since with a time, offsets,
    /// negative durations, clients without a '+' or ending in one, secret hashes that are not upper-case hex (times
    /// stay a day inside DateTimeOffset's range, so every lapse is one).</summary>
    private static readonly Gen<ReaderState> AnyReader =
        Gen.Select(
            Gen.Select(Gen.ULong, Gen.Bool, Gen.ULong, Gen.Long[TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay], Gen.Int[-14 * 60, 14 * 60]),
            Gen.Select(Gen.Long[-TimeSpan.TicksPerDay, TimeSpan.TicksPerDay], Gen.Long[-TimeSpan.TicksPerDay, TimeSpan.TicksPerDay], AnyOf("", "indexer", "backup", "ü → ✓"), Gen.Dictionary(Gen.ULong, Gen.ULong)[0, 3], Gen.ULong),
            Gen.Select(AnyOf<string?>(null, "sys.client/c1+o1", "sys.client/c1+o2", "sys.client/c2+", "+x", "test-client/1"),
                AnyOf<string?>(null, "", "hash-of-r", ReaderSecret.New().Hash(), ReaderSecret.New().Hash().ToLowerInvariant(), new string('F', 64), new string('F', 63) + "G")),
            (a, b, c) => new ReaderState
            {
                Since = a.Item2 ? Frontier.Empty with { Time = a.Item1 } : F(a.Item1),
                SeqNoHold = a.Item3,
                LastHeartbeat = new DateTimeOffset(a.Item4, TimeSpan.FromMinutes(a.Item5)),
                LeaseDuration = TimeSpan.FromTicks(b.Item1),
                HeartbeatInterval = TimeSpan.FromTicks(b.Item2),
                Purpose = b.Item3,
                Leases = b.Item4.ToImmutableSortedDictionary(),
                NextLeaseId = b.Item5,
                Client = c.Item1,
                SecretHash = c.Item2,
            });

    private static Gen<T> AnyOf<T>(params T[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);

    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(ShardState).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    [Fact]
    public void A_table_round_trips_through_its_codec_with_every_field()
    {
        Gen.Select(Gen.Int[0, 30], AnyReader).List[0, 12].Sample(readers =>
        {
            var table = ReaderTable.From(readers.Select(r => KeyValuePair.Create($"r{r.Item1}", r.Item2)));
            var state = new ShardState { SeqNo = 7, Readers = table };

            var read = Serializer.Deserialize<ShardState>(Serializer.SerializeToArray(state))!;

            Assert.Equal(table.Keys, read.Readers.Keys);
            foreach (var (id, reader) in table)
            {
                var back = read.Readers[id];
                Assert.Equal(reader.Leases, back.Leases);
                Assert.Equal((reader.Since.Time, reader.Since.IsEmpty), (back.Since.Time, back.Since.IsEmpty));
                Assert.Equal(reader.LastHeartbeat.Offset, back.LastHeartbeat.Offset);
                Assert.Equal(reader with { Leases = back.Leases }, back);
            }
            AssertSameMinima(table, read.Readers);
        });
    }

    private static void AssertSameMinima(ReaderTable expected, ReaderTable actual)
    {
        Assert.Equal(expected.MinSince, actual.MinSince);
        Assert.Equal(expected.MinSeqNoHold(99), actual.MinSeqNoHold(99));
        for (var t = 0; t <= 8; t++)
            Assert.Equal(expected.AnyLapsed(Start + TimeSpan.FromSeconds(t)), actual.AnyLapsed(Start + TimeSpan.FromSeconds(t)));
        foreach (var id in expected.Keys) Assert.Equal(expected.MinSinceOfOthers(id), actual.MinSinceOfOthers(id));
    }
}
