using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

public static class Compaction
{
    /// <summary>
    /// Merges updates for compaction: times below <paramref name="since"/> advance to since (reads as of ≥ since
    /// cannot tell them apart), diffs of equal (key, value, time) are summed, zeros dropped.
    /// </summary>
    public static ImmutableArray<Update> Merge(IEnumerable<Update> updates, Frontier since)
    {
        var sums = new Dictionary<(string, string, ulong), long>();
        foreach (var u in updates)
        {
            var time = since.IsEmpty ? u.Time : Math.Max(u.Time, since.Time);
            sums[(u.Key, u.Value, time)] = checked(sums.GetValueOrDefault((u.Key, u.Value, time)) + u.Diff);
        }
        return [.. sums.Where(s => s.Value != 0)
            .Select(s => new Update(s.Key.Item1, s.Key.Item2, s.Key.Item3, s.Value))
            .OrderBy(u => u.Time).ThenBy(u => u.Key, StringComparer.Ordinal).ThenBy(u => u.Value, StringComparer.Ordinal)];
    }
}
