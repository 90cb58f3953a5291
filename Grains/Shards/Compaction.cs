using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

internal static class Compaction
{
    /// <summary>
    /// Merges updates for compaction: times below <paramref name="since"/> advance to since (reads as of ≥ since
    /// cannot tell them apart), diffs of equal (key, value, time) are summed, zeros dropped. A sum beyond long is
    /// written as several updates of that (key, value, time) that add up to it, since reads sum them anyway.
    /// </summary>
    public static ImmutableArray<Update> Merge(IEnumerable<Update> updates, Frontier since)
    {
        var sums = new Dictionary<(string, string, ulong), Int128>();
        foreach (var u in updates)
        {
            var time = since.IsEmpty ? u.Time : Math.Max(u.Time, since.Time);
            sums[(u.Key, u.Value, time)] = checked(sums.GetValueOrDefault((u.Key, u.Value, time)) + u.Diff);
        }
        return [.. sums.Where(s => s.Value != 0)
            .OrderBy(s => s.Key.Item3).ThenBy(s => s.Key.Item1, StringComparer.Ordinal).ThenBy(s => s.Key.Item2, StringComparer.Ordinal)
            .SelectMany(s => Split(s.Value).Select(diff => new Update(s.Key.Item1, s.Key.Item2, s.Key.Item3, diff)))];
    }

    /// <summary>Non-zero diffs that each fit in long and add up to <paramref name="sum"/>: ±long.MaxValue while
    /// the rest does not fit, then the rest.</summary>
    private static IEnumerable<long> Split(Int128 sum)
    {
        var step = sum > 0 ? long.MaxValue : -long.MaxValue;
        while (sum > long.MaxValue || sum < long.MinValue)
        {
            yield return step;
            sum -= step;
        }
        yield return (long)sum;
    }
}
