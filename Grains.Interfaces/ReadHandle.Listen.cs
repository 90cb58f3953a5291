using System.Collections.Immutable;
using System.Runtime.CompilerServices;

namespace Orleans.Leases;

/// <summary>What a listen yields: a shard's updates as they are written, and how far it has come.</summary>
public abstract record ListenEvent
{
    private ListenEvent() { }

    /// <summary>The consolidated updates at times in [<paramref name="Lower"/>, <paramref name="Upper"/>), sorted by
    /// time: every update of those times, each once.</summary>
    public sealed record Updates(ImmutableArray<Update> Batch, Frontier Lower, Frontier Upper) : ListenEvent;

    /// <summary>Every update at a time below <paramref name="Upper"/> has been yielded (empty: the shard is closed,
    /// the listen ends).</summary>
    public sealed record Progress(Frontier Upper) : ListenEvent;
}

/// <summary>How a listen moves the reader's holds.</summary>
public sealed record ListenOptions
{
    /// <summary>Moves the reader's since up to the listen's progress after each batch, so the shard may compact what
    /// the listen has had. Off by default, as in Persist: the caller downgrades (another read may still need it).</summary>
    public bool SinceFollowsProgress { get; init; }
}

public sealed partial class ReadHandle
{
    /// <summary>
    /// Follows the shard from <paramref name="asOf"/> (≥ <see cref="Since"/>): yields the updates at times after asOf
    /// as they are written, batch by batch, each followed by its <see cref="ListenEvent.Progress"/>; waits for new data
    /// as long as <paramref name="cancellation"/> allows, and ends when the shard is closed.
    /// <para>Each batch is read under a lease given back once its updates are in hand, before they are yielded: a
    /// consumer that stops pulling pins no part, while the lease grain keeps heartbeating and moves the seqno hold on.
    /// Exact under compaction: a merge of batches not read yet gives this listen the same updates, once each.</para>
    /// </summary>
    public IAsyncEnumerable<ListenEvent> ListenAsync(ulong asOf, ListenOptions options, CancellationToken cancellation = default) =>
        FollowAsync(asOf, options ?? throw new ArgumentNullException(nameof(options)), snapshotFirst: false, check: null, cancellation);

    /// <summary>A snapshot as of <paramref name="asOf"/> (its updates at time asOf, one
    /// <see cref="ListenEvent.Updates"/>), then <see cref="ListenAsync"/> from asOf.</summary>
    public IAsyncEnumerable<ListenEvent> SubscribeAsync(ulong asOf, ListenOptions options, CancellationToken cancellation = default) =>
        FollowAsync(asOf, options ?? throw new ArgumentNullException(nameof(options)), snapshotFirst: true, check: null, cancellation);

    /// <summary>The listen; <paramref name="check"/> sees each part's updates before they are merged (a typed reader
    /// decodes them there, so an error can name the part) while the part is still leased.</summary>
    internal async IAsyncEnumerable<ListenEvent> FollowAsync(ulong asOf, ListenOptions options, bool snapshotFirst,
        Action<PartRef, IReadOnlyList<Update>>? check, [EnumeratorCancellation] CancellationToken cancellation)
    {
        if (snapshotFirst)
        {
            var snapshot = await SnapshotAsync(asOf, cancellation);
            var contents = await ReadThenReturnAsync(snapshot, () => FetchAsync(snapshot, u => u.Time <= asOf, check));
            // A snapshot's updates, all at its time: advanced to asOf, then consolidated.
            yield return new ListenEvent.Updates(Consolidation.Merge(contents, Frontier.At(asOf)), Frontier.Minimum, Next(asOf));
            yield return new ListenEvent.Progress(Next(asOf));
        }

        var after = asOf;
        while (after < ulong.MaxValue)
        {
            var from = after;
            var (leased, _) = await LeaseOnceWrittenAsync(() => _lease.LeaseAfter(_secret, from), from + 1, cancellation);
            var batch = Consolidation.Merge(
                await ReadThenReturnAsync(leased, () => FetchAsync(leased, u => u.Time > from && u.Time <= leased.AsOf, check)), Frontier.Minimum);
            after = leased.AsOf;
            if (!batch.IsEmpty) yield return new ListenEvent.Updates(batch, Next(from), Next(after));
            yield return new ListenEvent.Progress(Next(after));
            // Only once the consumer pulls past the progress: one that fails on a batch may listen again from before it.
            if (options.SinceFollowsProgress) await DowngradeSinceAsync(Frontier.At(after));
        }
    }

    /// <summary>Reads under <paramref name="leased"/>, then gives it back; a read that fails gives it back too, and its
    /// error is the one thrown.</summary>
    private async Task<ImmutableArray<Update>> ReadThenReturnAsync(LeasedSnapshot leased, Func<Task<ImmutableArray<Update>>> read)
    {
        ImmutableArray<Update> updates;
        try
        {
            updates = await read();
        }
        catch
        {
            try
            {
                await ReturnLeaseAsync(leased);
            }
            catch (ShardException)
            {
                // The lease ended meanwhile: nothing to give back, and the read's error says more.
            }
            throw;
        }
        await ReturnLeaseAsync(leased);
        return updates;
    }

    /// <summary>The updates of <paramref name="leased"/>'s parts that <paramref name="keep"/> keeps, each part's shown
    /// to <paramref name="check"/>.</summary>
    private async Task<ImmutableArray<Update>> FetchAsync(LeasedSnapshot leased, Func<Update, bool> keep,
        Action<PartRef, IReadOnlyList<Update>>? check)
    {
        var parts = await Task.WhenAll(leased.Parts.Select(async part => (Part: part, Updates: (await FetchPartAsync(part)).Where(keep).ToList())));
        foreach (var (part, updates) in parts) check?.Invoke(part, updates);
        return [.. parts.SelectMany(p => p.Updates)];
    }

    /// <summary>The frontier just past <paramref name="time"/>: empty past the last time.</summary>
    private static Frontier Next(ulong time) => time == ulong.MaxValue ? Frontier.Empty : Frontier.At(time + 1);
}
