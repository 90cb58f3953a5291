using System.Collections.Immutable;

namespace Orleans.Leases;

/// <summary>One update of a shard: <paramref name="Diff"/> copies of (key, value) at <paramref name="Time"/>.</summary>
[GenerateSerializer, Immutable, Alias("Leases.Update")]
public sealed record Update(
    [property: Id(0)] string Key,
    [property: Id(1)] string Value,
    [property: Id(2)] ulong Time,
    [property: Id(3)] long Diff);

/// <summary>The key that makes an append idempotent: a retry with the same key is applied once.</summary>
public static class IdempotencyKey
{
    public const int MaxLength = 256;

    public const string Rule = "The idempotency key must be 1–256 characters, not all white space.";

    public static bool IsValid(string? key) => !string.IsNullOrWhiteSpace(key) && key.Length <= MaxLength;
}

public static class Consolidation
{
    /// <summary>
    /// The exact contents of a collection as of <paramref name="asOf"/>: updates with time ≤ asOf, diffs of equal
    /// (key, value) summed, zeros dropped, sorted by key then value. Times are dropped: they are all ≤ asOf.
    /// Sums are <see cref="Int128"/>: accepted long diffs can add up past long, and every read must still work.
    /// </summary>
    public static ImmutableArray<(string Key, string Value, Int128 Diff)> AsOf(IEnumerable<Update> updates, ulong asOf)
    {
        var sums = new Dictionary<(string, string), Int128>();
        foreach (var u in updates)
        {
            if (u.Time > asOf) continue;
            sums[(u.Key, u.Value)] = checked(sums.GetValueOrDefault((u.Key, u.Value)) + u.Diff);
        }
        return [.. sums
            .Where(kv => kv.Value != 0)
            .Select(kv => (kv.Key.Item1, kv.Key.Item2, kv.Value))
            .OrderBy(x => x.Item1, StringComparer.Ordinal)
            .ThenBy(x => x.Item2, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Merges updates, keeping their times: times below <paramref name="since"/> advance to since (reads as of ≥ since
    /// cannot tell them apart), diffs of equal (key, value, time) are summed, zeros dropped; sorted by time, key, value.
    /// A sum beyond long is written as several updates of that (key, value, time) that add up to it, since reads sum
    /// them anyway. Compaction writes its output so; a listener hands out each batch so.
    /// </summary>
    internal static ImmutableArray<Update> Merge(IEnumerable<Update> updates, Frontier since)
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
