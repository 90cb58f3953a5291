using System.Collections;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.Leases.Shards;

/// <summary>
/// A shard's leased readers by id, with the minima every change asks for — the meet of their sinces, the lowest seqno
/// hold, the earliest lapse — kept up to date as readers change. A change then costs O(log n) instead of a walk over
/// every reader, and a group commit of n syncs O(n log n) instead of O(n²). Stored as its readers alone
/// (<see cref="ReaderTableCodec"/>, or the id → reader object of states stored as JSON); the minima are rebuilt on read.
/// </summary>
[JsonConverter(typeof(ReaderTableJsonConverter))]
[Immutable]
internal sealed class ReaderTable : IReadOnlyDictionary<string, ReaderState>
{
    public static readonly ReaderTable Empty = new(ImmutableSortedDictionary<string, ReaderState>.Empty, new(), new(), new());

    private readonly ImmutableSortedDictionary<string, ReaderState> _byId;
    private readonly Counts<Frontier> _sinces;
    private readonly Counts<ulong> _holds;
    private readonly Counts<DateTimeOffset> _lapses; // LastHeartbeat + LeaseDuration

    private ReaderTable(ImmutableSortedDictionary<string, ReaderState> byId, Counts<Frontier> sinces, Counts<ulong> holds, Counts<DateTimeOffset> lapses) =>
        (_byId, _sinces, _holds, _lapses) = (byId, sinces, holds, lapses);

    /// <summary>The table of <paramref name="readers"/> (the last of an id wins), as a state read from storage has it.
    /// Built in place: one <see cref="SetItem"/> per reader would copy a path of each of four trees.</summary>
    public static ReaderTable From(IEnumerable<KeyValuePair<string, ReaderState>> readers)
    {
        var byId = ImmutableSortedDictionary.CreateBuilder<string, ReaderState>();
        foreach (var (id, reader) in readers) byId[id] = reader;
        return byId.Count == 0
            ? Empty
            : new(byId.ToImmutable(), Counts<Frontier>.Of(byId.Values.Select(r => r.Since)), Counts<ulong>.Of(byId.Values.Select(r => r.SeqNoHold)),
                Counts<DateTimeOffset>.Of(byId.Values.Select(LapseOf)));
    }

    public int Count => _byId.Count;

    public bool IsEmpty => _byId.IsEmpty;

    public ReaderState this[string id] => _byId[id];

    public IEnumerable<string> Keys => _byId.Keys;

    public IEnumerable<ReaderState> Values => _byId.Values;

    public bool ContainsKey(string id) => _byId.ContainsKey(id);

    public bool TryGetValue(string id, [MaybeNullWhen(false)] out ReaderState reader) => _byId.TryGetValue(id, out reader);

    /// <summary>The meet of the readers' sinces: <see cref="Frontier.Empty"/> (holds nothing back) without readers.</summary>
    public Frontier MinSince => _sinces.TryMin(out var min) ? min : Frontier.Empty;

    /// <summary>The meet of the sinces of every reader but <paramref name="id"/>.</summary>
    public Frontier MinSinceOfOthers(string id)
    {
        if (!_byId.TryGetValue(id, out var reader)) return MinSince;
        return _sinces.TryMinWithout(reader.Since, out var min) ? min : Frontier.Empty;
    }

    /// <summary>The lowest seqno hold, or <paramref name="none"/> without readers.</summary>
    public ulong MinSeqNoHold(ulong none) => _holds.TryMin(out var min) ? min : none;

    /// <summary>True when some reader's lease has lapsed at <paramref name="now"/>.</summary>
    public bool AnyLapsed(DateTimeOffset now) => _lapses.TryMin(out var first) && now > first;

    /// <summary>The readers whose lease has lapsed at <paramref name="now"/>, looked for only once the earliest lapse
    /// has passed.</summary>
    public IReadOnlyList<string> Lapsed(DateTimeOffset now) =>
        AnyLapsed(now) ? [.. _byId.Where(r => r.Value.IsLapsed(now)).Select(r => r.Key)] : [];

    public ReaderTable SetItem(string id, ReaderState reader)
    {
        var table = _byId.TryGetValue(id, out var old) ? Without(old) : this;
        return new(_byId.SetItem(id, reader), table._sinces.Add(reader.Since), table._holds.Add(reader.SeqNoHold),
            table._lapses.Add(LapseOf(reader)));
    }

    public ReaderTable Remove(string id)
    {
        if (!_byId.TryGetValue(id, out var old)) return this;
        var table = Without(old);
        return new(_byId.Remove(id), table._sinces, table._holds, table._lapses);
    }

    public ReaderTable RemoveRange(IEnumerable<string> ids) => ids.Aggregate(this, (table, id) => table.Remove(id));

    private ReaderTable Without(ReaderState reader) =>
        new(_byId, _sinces.Remove(reader.Since), _holds.Remove(reader.SeqNoHold), _lapses.Remove(LapseOf(reader)));

    private static DateTimeOffset LapseOf(ReaderState reader) => reader.LapsesAt;

    public IEnumerator<KeyValuePair<string, ReaderState>> GetEnumerator() => _byId.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>An immutable multiset with its minimum at hand.</summary>
    private readonly struct Counts<T>() where T : notnull
    {
        private readonly ImmutableSortedDictionary<T, int> _counts = ImmutableSortedDictionary<T, int>.Empty;

        private Counts(ImmutableSortedDictionary<T, int> counts) : this() => _counts = counts;

        public static Counts<T> Of(IEnumerable<T> values)
        {
            var counts = ImmutableSortedDictionary.CreateBuilder<T, int>();
            foreach (var value in values) counts[value] = counts.GetValueOrDefault(value) + 1;
            return new(counts.ToImmutable());
        }

        public bool TryMin(out T min)
        {
            min = _counts.IsEmpty ? default! : _counts.Keys.First();
            return !_counts.IsEmpty;
        }

        /// <summary>The minimum once one <paramref name="value"/> is taken out.</summary>
        public bool TryMinWithout(T value, out T min)
        {
            min = default!;
            using var counts = _counts.GetEnumerator();
            if (!counts.MoveNext()) return false;
            var first = counts.Current;
            if (first.Value > 1 || Comparer<T>.Default.Compare(first.Key, value) != 0)
            {
                min = first.Key;
                return true;
            }
            if (!counts.MoveNext()) return false;
            min = counts.Current.Key;
            return true;
        }

        public Counts<T> Add(T value) => new(_counts.SetItem(value, _counts.GetValueOrDefault(value) + 1));

        public Counts<T> Remove(T value) => _counts.GetValueOrDefault(value) switch
        {
            <= 1 => new(_counts.Remove(value)),
            var n => new(_counts.SetItem(value, n - 1)),
        };
    }
}

/// <summary>Reads and writes a <see cref="ReaderTable"/> as the id → reader object of states stored as JSON.</summary>
internal sealed class ReaderTableJsonConverter : JsonConverter<ReaderTable>
{
    public override ReaderTable Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ReaderTable.From(JsonSerializer.Deserialize<Dictionary<string, ReaderState>>(ref reader, options) ?? []);

    public override void Write(Utf8JsonWriter writer, ReaderTable value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (id, reader) in value)
        {
            writer.WritePropertyName(id);
            JsonSerializer.Serialize(writer, reader, options);
        }
        writer.WriteEndObject();
    }
}
