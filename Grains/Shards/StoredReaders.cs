using System.Buffers;
using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>
/// A <see cref="ReaderTable"/> as Orleans' serializer stores it: the readers alone, in id order; the table's minima
/// are rebuilt on read (<see cref="ReaderTable.From"/>). Every reader of a shard is rewritten with each state write, so
/// the strings readers share (purposes, the client part of their observers' ids) are stored once, and a hex SHA-256
/// secret hash as its 32 bytes.
/// </summary>
[GenerateSerializer, Immutable, OmitDefaultMemberValues, Alias("Leases.StoredReaders")]
public struct StoredReaders
{
    /// <summary>The shared strings that <see cref="StoredReader.Purpose"/> and <see cref="StoredReader.ClientPrefix"/>
    /// point to (1-based).</summary>
    [Id(0)] public string[]? Strings;

    [Id(1)] public StoredReader[]? Readers;
}

/// <summary>One <see cref="ReaderState"/> as stored; fields at their default are not written at all.</summary>
[GenerateSerializer, Immutable, OmitDefaultMemberValues, Alias("Leases.StoredReader")]
public struct StoredReader
{
    [Id(0)] public string Id;

    [Id(1)] public Frontier Since;

    [Id(2)] public ulong SeqNoHold;

    /// <summary><see cref="ReaderState.LastHeartbeat"/>'s clock ticks, and its offset in minutes (0 for the
    /// TimeProvider's UTC times).</summary>
    [Id(3)] public long LastHeartbeatTicks;

    [Id(4)] public short LastHeartbeatOffset;

    [Id(5)] public long LeaseDurationTicks;

    [Id(6)] public long HeartbeatIntervalTicks;

    /// <summary>Index + 1 into <see cref="StoredReaders.Strings"/>; 0 for the empty purpose.</summary>
    [Id(7)] public int Purpose;

    /// <summary>Outstanding leases as lease id, seqno, lease id, seqno… in lease id order.</summary>
    [Id(8)] public ulong[]? Leases;

    [Id(9)] public ulong NextLeaseId;

    /// <summary>Index + 1 into <see cref="StoredReaders.Strings"/> of the client's id up to its last '+' (an
    /// observer id is <c>sys.client/{client}+{observer}</c>, and a client opens many readers); 0 for none.</summary>
    [Id(10)] public int ClientPrefix;

    /// <summary>The rest of <see cref="ReaderState.Client"/> after <see cref="ClientPrefix"/>; null when the reader
    /// has no client.</summary>
    [Id(11)] public string? Client;

    /// <summary>The secret hash when it is the 64 upper-case hex digits <see cref="ReaderSecret.Hash"/> makes.</summary>
    [Id(12)] public byte[]? SecretHash;

    /// <summary>Any other secret hash, as it is.</summary>
    [Id(13)] public string? SecretHashText;
}

[RegisterConverter]
public sealed class StoredReadersConverter : IConverter<ReaderTable, StoredReaders>
{
    private static readonly SearchValues<char> UpperHex = SearchValues.Create("0123456789ABCDEF");

    public StoredReaders ConvertToSurrogate(in ReaderTable value)
    {
        var strings = new List<string>();
        var indexes = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookup = indexes.GetAlternateLookup<ReadOnlySpan<char>>(); // no string made per reader for its client prefix
        int Index(ReadOnlySpan<char> s)
        {
            if (s.IsEmpty) return 0;
            if (!lookup.TryGetValue(s, out var index))
            {
                var added = s.ToString();
                strings.Add(added);
                indexes.Add(added, index = strings.Count);
            }
            return index;
        }

        var readers = new StoredReader[value.Count];
        var i = 0;
        foreach (var (id, r) in value)
        {
            var split = r.Client?.LastIndexOf('+') ?? -1;
            var packedHash = r.SecretHash is { Length: 64 } hash && !hash.AsSpan().ContainsAnyExcept(UpperHex)
                ? Convert.FromHexString(hash)
                : null;
            var leases = r.Leases.IsEmpty ? null : new ulong[2 * r.Leases.Count];
            var l = 0;
            foreach (var (lease, seqNo) in r.Leases)
            {
                leases![l++] = lease;
                leases[l++] = seqNo;
            }
            readers[i++] = new StoredReader
            {
                Id = id,
                Since = r.Since,
                SeqNoHold = r.SeqNoHold,
                LastHeartbeatTicks = r.LastHeartbeat.Ticks,
                LastHeartbeatOffset = (short)r.LastHeartbeat.Offset.TotalMinutes, // always whole minutes
                LeaseDurationTicks = r.LeaseDuration.Ticks,
                HeartbeatIntervalTicks = r.HeartbeatInterval.Ticks,
                Purpose = Index(r.Purpose),
                Leases = leases,
                NextLeaseId = r.NextLeaseId,
                ClientPrefix = split < 0 ? 0 : Index(r.Client.AsSpan(0, split + 1)),
                Client = split < 0 ? r.Client : r.Client![(split + 1)..],
                SecretHash = packedHash,
                SecretHashText = packedHash is null ? r.SecretHash : null,
            };
        }
        return new StoredReaders { Strings = strings.Count == 0 ? null : [.. strings], Readers = readers.Length == 0 ? null : readers };
    }

    public ReaderTable ConvertFromSurrogate(in StoredReaders surrogate)
    {
        var strings = surrogate.Strings ?? [];
        string? At(int index) => index == 0 ? null : strings[index - 1];

        return ReaderTable.From((surrogate.Readers ?? []).Select(r =>
        {
            var leases = ImmutableSortedDictionary<ulong, ulong>.Empty;
            if (r.Leases is { Length: > 1 } stored)
            {
                var builder = leases.ToBuilder();
                for (var l = 0; l + 1 < stored.Length; l += 2) builder[stored[l]] = stored[l + 1];
                leases = builder.ToImmutable();
            }
            return KeyValuePair.Create(r.Id, new ReaderState
            {
                Since = r.Since,
                SeqNoHold = r.SeqNoHold,
                LastHeartbeat = new DateTimeOffset(r.LastHeartbeatTicks, TimeSpan.FromTicks(r.LastHeartbeatOffset * TimeSpan.TicksPerMinute)),
                LeaseDuration = TimeSpan.FromTicks(r.LeaseDurationTicks),
                HeartbeatInterval = TimeSpan.FromTicks(r.HeartbeatIntervalTicks),
                Purpose = At(r.Purpose) ?? "",
                Leases = leases,
                NextLeaseId = r.NextLeaseId,
                Client = r.Client is null ? null : At(r.ClientPrefix) + r.Client,
                SecretHash = r.SecretHash is { } packed ? Convert.ToHexString(packed) : r.SecretHashText,
            });
        }));
    }
}
