namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>Pulling a listen's events, and checking what it yielded against what was written.</summary>
internal static class Listening
{
    /// <summary>Every update written yielded once (sums equal: a doubled or lost update would change one), each batch
    /// within its bounds, progress rising.</summary>
    public static void AssertFollowed(List<ListenEvent> events, List<Update> written)
    {
        var yielded = events.OfType<ListenEvent.Updates>().ToList();
        Assert.All(yielded, u => Assert.All(u.Batch, x => Assert.True(
            u.Lower.Contains(x.Time) && !u.Upper.Contains(x.Time), $"{x} outside [{u.Lower}, {u.Upper})")));
        var progress = events.OfType<ListenEvent.Progress>().Select(p => p.Upper).ToList();
        Assert.Equal(progress.Order(), progress);
        Assert.Equal(progress.Count, progress.Distinct().Count());
        lock (written)
            Assert.Equal(Consolidation.Merge(written, Frontier.Minimum).ToArray(),
                Consolidation.Merge(yielded.SelectMany(u => u.Batch), Frontier.Minimum).ToArray());
    }

    public static async Task<ListenEvent> NextAsync(IAsyncEnumerator<ListenEvent> events)
    {
        Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)), "the listen ended");
        return events.Current;
    }

    /// <summary>Pulls events until progress reaches <paramref name="upper"/>.</summary>
    public static async Task<List<ListenEvent>> UntilAsync(IAsyncEnumerator<ListenEvent> events, ulong upper)
    {
        var seen = new List<ListenEvent>();
        while (true)
        {
            seen.Add(await NextAsync(events));
            if (seen[^1] is ListenEvent.Progress { Upper: var reached } && !reached.Contains(upper - 1)) return seen;
        }
    }
}
