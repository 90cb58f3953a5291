using CsCheck;
using Orleans.Leases.Shards;
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

    private static void AssertSameMinima(ReaderTable expected, ReaderTable actual)
    {
        Assert.Equal(expected.MinSince, actual.MinSince);
        Assert.Equal(expected.MinSeqNoHold(99), actual.MinSeqNoHold(99));
        for (var t = 0; t <= 8; t++)
            Assert.Equal(expected.AnyLapsed(Start + TimeSpan.FromSeconds(t)), actual.AnyLapsed(Start + TimeSpan.FromSeconds(t)));
        foreach (var id in expected.Keys) Assert.Equal(expected.MinSinceOfOthers(id), actual.MinSinceOfOthers(id));
    }
}
