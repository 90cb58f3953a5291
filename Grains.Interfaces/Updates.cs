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
}
