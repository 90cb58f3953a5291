using System.Collections.Immutable;

// RS0027 asks an overload with optional parameters to have the most parameters, so that adding one never changes
// what a call binds to. The typed OpenReaderAsync has more, but it is generic over codecs and has no optional ones.
[assembly: System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027", Scope = "member",
    Target = "~M:Orleans.Leases.ShardClient.OpenReaderAsync(Orleans.Leases.ShardId,Orleans.Leases.LeaseSettings,System.Nullable{Orleans.Leases.ReaderId})~System.Threading.Tasks.Task{Orleans.Leases.ReadHandle}",
    Justification = "The typed overload takes codecs and has no optional parameters, so a call binds to one overload only.")]

namespace Orleans.Leases;

/// <summary>One update of an application's own types: <paramref name="Diff"/> copies of (key, value) at
/// <paramref name="Time"/>. Stored as an <see cref="Update"/> of the codecs' strings.</summary>
public sealed record Update<TKey, TValue>(TKey Key, TValue Value, ulong Time, long Diff);

public sealed partial class ShardClient
{
    /// <summary>Appends to <paramref name="shard"/> in the application's own types.</summary>
    public WriteHandle<TKey, TValue> Writer<TKey, TValue>(ShardId shard, IShardCodec<TKey> keys, IShardCodec<TValue> values) =>
        new(Writer(shard), keys, values);

    /// <summary>Opens a leased reader that reads in the application's own types; see <see cref="ReadHandle.OpenAsync"/>.
    /// To choose the reader id, wrap a <see cref="ReadHandle"/> in a <see cref="ReadHandle{TKey, TValue}"/>.</summary>
    public async Task<ReadHandle<TKey, TValue>> OpenReaderAsync<TKey, TValue>(ShardId shard, IShardCodec<TKey> keys,
        IShardCodec<TValue> values, LeaseSettings settings) =>
        new(await OpenReaderAsync(shard, settings), keys, values);
}

/// <summary>Appends updates of an application's own types to one shard: a <see cref="WriteHandle"/> that encodes
/// keys and values with the codecs.</summary>
public sealed class WriteHandle<TKey, TValue>(WriteHandle writer, IShardCodec<TKey> keys, IShardCodec<TValue> values)
{
    private readonly WriteHandle _writer = writer ?? throw new ArgumentNullException(nameof(writer));
    private readonly IShardCodec<TKey> _keys = keys ?? throw new ArgumentNullException(nameof(keys));
    private readonly IShardCodec<TValue> _values = values ?? throw new ArgumentNullException(nameof(values));

    public ShardId Shard => _writer.Shard;

    /// <summary>Encodes <paramref name="updates"/> and appends them; see <see cref="WriteHandle.CompareAndAppendAsync"/>.
    /// A key or value the codec cannot encode throws here, before anything is sent.</summary>
    public Task<AppendResult> CompareAndAppendAsync(IEnumerable<Update<TKey, TValue>> updates, Frontier expectedUpper,
        Frontier newUpper, string? idempotencyKey = null)
    {
        ImmutableArray<Update> encoded = [.. updates.Select(u => new Update(_keys.Encode(u.Key), _values.Encode(u.Value), u.Time, u.Diff))];
        return _writer.CompareAndAppendAsync(encoded, expectedUpper, newUpper, idempotencyKey);
    }

    public Task<Frontier> FetchUpperAsync() => _writer.FetchUpperAsync();
}

/// <summary>A leased reader that reads an application's own types: a <see cref="ReadHandle"/> (which it owns: disposing
/// this closes it) whose reads decode keys and values with the codecs.</summary>
public sealed class ReadHandle<TKey, TValue>(ReadHandle reader, IShardCodec<TKey> keys, IShardCodec<TValue> values)
    : IAsyncDisposable
{
    private readonly ReadHandle _reader = reader ?? throw new ArgumentNullException(nameof(reader));
    private readonly IShardCodec<TKey> _keys = keys ?? throw new ArgumentNullException(nameof(keys));
    private readonly IShardCodec<TValue> _values = values ?? throw new ArgumentNullException(nameof(values));

    public ShardId Shard => _reader.Shard;

    public ReaderId Reader => _reader.Reader;

    /// <inheritdoc cref="ReadHandle.Since"/>
    public Frontier Since => _reader.Since;

    /// <inheritdoc cref="ReadHandle.SnapshotAsync"/>
    public Task<LeasedSnapshot> SnapshotAsync(ulong asOf, CancellationToken cancellation = default) =>
        _reader.SnapshotAsync(asOf, cancellation);

    /// <summary>Fetches a leased snapshot's parts, consolidates them as of its time and decodes the rows, in the order
    /// of their encoded keys and values. Every update the read consolidates is decoded, so a part that does not decode
    /// throws <see cref="PartDecodeException"/> naming it, even if its updates would cancel out; the snapshot's lease
    /// is still held then, to be returned as after a read.</summary>
    public async Task<ImmutableArray<(TKey Key, TValue Value, Int128 Diff)>> ReadAsync(LeasedSnapshot snapshot)
    {
        var parts = await Task.WhenAll(snapshot.Parts.Select(async part => (Part: part, Updates: await _reader.FetchPartAsync(part))));
        var decoded = new Decoded(this);
        foreach (var (part, updates) in parts) decoded.Add(part, updates.Where(u => u.Time <= snapshot.AsOf));
        var rows = Consolidation.AsOf(parts.SelectMany(p => p.Updates), snapshot.AsOf);
        return [.. rows.Select(row => (decoded.Keys[row.Key], decoded.Values[row.Value], row.Diff))];
    }

    /// <summary><see cref="ReadHandle.ListenAsync"/>, decoded: a part that does not decode ends the listen with
    /// <see cref="PartDecodeException"/> naming it (its lease given back).</summary>
    public IAsyncEnumerable<ListenEvent<TKey, TValue>> ListenAsync(ulong asOf, ListenOptions options, CancellationToken cancellation = default) =>
        DecodedAsync(asOf, options ?? throw new ArgumentNullException(nameof(options)), snapshotFirst: false, cancellation);

    /// <summary><see cref="ReadHandle.SubscribeAsync"/>, decoded as <see cref="ListenAsync"/> is.</summary>
    public IAsyncEnumerable<ListenEvent<TKey, TValue>> SubscribeAsync(ulong asOf, ListenOptions options, CancellationToken cancellation = default) =>
        DecodedAsync(asOf, options ?? throw new ArgumentNullException(nameof(options)), snapshotFirst: true, cancellation);

    private async IAsyncEnumerable<ListenEvent<TKey, TValue>> DecodedAsync(ulong asOf, ListenOptions options, bool snapshotFirst,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        // Decoded per part, while it is leased, so an error names it; kept until the batch's progress (which follows
        // every batch, also one that consolidated to nothing).
        var decoded = new Decoded(this);
        await foreach (var e in _reader.FollowAsync(asOf, options, snapshotFirst, decoded.Add, cancellation))
        {
            switch (e)
            {
                case ListenEvent.Updates batch:
                    yield return new ListenEvent<TKey, TValue>.Updates(
                        [.. batch.Batch.Select(u => new Update<TKey, TValue>(decoded.Keys[u.Key], decoded.Values[u.Value], u.Time, u.Diff))],
                        batch.Lower, batch.Upper);
                    break;
                case ListenEvent.Progress progress:
                    yield return new ListenEvent<TKey, TValue>.Progress(progress.Upper);
                    decoded.Clear();
                    break;
            }
        }
    }

    /// <summary>The keys and values of a read, each distinct string decoded once (parts repeat them across times).</summary>
    private sealed class Decoded(ReadHandle<TKey, TValue> handle)
    {
        public Dictionary<string, TKey> Keys { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, TValue> Values { get; } = new(StringComparer.Ordinal);

        /// <summary>Decodes <paramref name="updates"/> of <paramref name="part"/>; <see cref="PartDecodeException"/>
        /// naming it for a string a codec does not read.</summary>
        public void Add(PartRef part, IEnumerable<Update> updates)
        {
            foreach (var update in updates)
            {
                Decode(Keys, handle._keys, update.Key, part, "key");
                Decode(Values, handle._values, update.Value, part, "value");
            }
        }

        public void Clear()
        {
            Keys.Clear();
            Values.Clear();
        }

        private void Decode<T>(Dictionary<string, T> decoded, IShardCodec<T> codec, string encoded, PartRef part, string what)
        {
            if (decoded.ContainsKey(encoded)) return;
            try
            {
                decoded[encoded] = codec.Decode(encoded);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new PartDecodeException(handle.Shard.Value, part.Name, what, e);
            }
        }
    }

    /// <inheritdoc cref="ReadHandle.ReturnLeaseAsync"/>
    public Task ReturnLeaseAsync(LeasedSnapshot snapshot) => _reader.ReturnLeaseAsync(snapshot);

    /// <inheritdoc cref="ReadHandle.DowngradeSinceAsync"/>
    public Task DowngradeSinceAsync(Frontier since) => _reader.DowngradeSinceAsync(since);

    public ValueTask DisposeAsync() => _reader.DisposeAsync();
}

/// <summary>A typed listen's events: <see cref="ListenEvent"/> with decoded keys and values.</summary>
public abstract record ListenEvent<TKey, TValue>
{
    private ListenEvent() { }

    /// <inheritdoc cref="ListenEvent.Updates"/>
    public sealed record Updates(ImmutableArray<Update<TKey, TValue>> Batch, Frontier Lower, Frontier Upper) : ListenEvent<TKey, TValue>;

    /// <inheritdoc cref="ListenEvent.Progress"/>
    public sealed record Progress(Frontier Upper) : ListenEvent<TKey, TValue>;
}
