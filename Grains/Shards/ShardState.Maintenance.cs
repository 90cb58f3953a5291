using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace Orleans.Leases.Shards;

/// <summary>A part no batch names any more; <paramref name="RetiredAt"/> is the last state that named it, so it may be
/// deleted once seqno_since &gt; RetiredAt (S4).</summary>
[GenerateSerializer, Immutable, Alias("Leases.RetiredPart")]
internal sealed record RetiredPart([property: Id(0)] PartRef Part, [property: Id(1)] ulong RetiredAt);

/// <summary>When to compact. Batches are kept so that each holds more than (<paramref name="Fanout"/> − 1)× the
/// updates of all newer batches together: sizes shrink geometrically towards the newest, whatever sizes the appends
/// bring. Where a batch does not (and the shard has at least <paramref name="MinBatches"/> batches, so short bursts
/// of appends are not slowed), it and every newer batch merge into one. Once compaction catches up, n live updates
/// lie in at most MinBatches + 2 + log_fanout(n) batches. Each rewrite of an update after its first multiplies the
/// updates of its batch by at least fanout/(fanout − 1), so of N appended updates none is rewritten more than
/// 1 + log_(fanout/(fanout − 1))(N) times (merges that drop updates shrink batches and may bring later merges
/// sooner). A fanout below 2 merges only empty batches. Whenever the shard's inline bytes exceed
/// <paramref name="InlineBytesTrigger"/>, its inline batches (and any newer) are merged into a part. A MinBatches of
/// <see cref="int.MaxValue"/> turns compaction off.</summary>
internal sealed record CompactionPolicy(int Fanout = 2, int MinBatches = 0, long InlineBytesTrigger = long.MaxValue);

/// <summary>The idempotency key of an append whose batch compaction merged away, with the upper it appended to. Kept
/// as a 64-bit digest of the key (the first 8 bytes of its SHA-256), so a state's 256 of them take about 4.5 KB of every
/// write instead of about 11 KB; a state stored before keeps the key itself (<see cref="Key"/>), and still matches.
/// Two keys sharing a digest (odds 2⁻⁶⁴ per pair) would answer a retry of one with the other's AlreadyApplied.</summary>
[GenerateSerializer, Immutable, Alias("Leases.CompactedKey")]
internal sealed record CompactedKey([property: Id(0)] string? Key, [property: Id(1)] Frontier Upper)
{
    [Id(2)] public ulong Digest { get; init; }

    public static CompactedKey Of(string key, Frontier upper) => new(null, upper) { Digest = DigestOf(key) };

    public bool Matches(string key, ulong digest) => Key is null ? Digest == digest : Key == key;

    public static ulong DigestOf(string key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return BinaryPrimitives.ReadUInt64LittleEndian(hash);
    }
}

// Compaction and garbage collection: what since and seqno holds protect.
internal sealed partial record ShardState
{
    /// <summary>The run the policy would merge now, or empty: from the oldest batch holding at most (fanout − 1)× the
    /// updates of all newer ones, to the newest. The whole run at once: merging a big new batch with each smaller
    /// older one in turn would rewrite it once per batch.</summary>
    public ImmutableArray<Batch> CompactionCandidates(CompactionPolicy policy)
    {
        // Inline updates above their share go out to a part, whatever the sizes: from the oldest inline batch (inline
        // batches are appends since the last compaction, so they are mostly the newest) to the newest.
        if (policy.MinBatches == int.MaxValue) return []; // compaction off
        if (InlineBytes > policy.InlineBytesTrigger && Batches.FindIndex(b => InlineBytesOf(b) > 0) is var first and >= 0)
            return [.. Batches.GetRange(first, Batches.Count - first)];
        if (Batches.Count < Math.Max(policy.MinBatches, 2)) return [];
        var newer = new long[Batches.Count]; // updates in the batches after each
        for (var i = Batches.Count - 2; i >= 0; i--) newer[i] = newer[i + 1] + Size(Batches[i + 1]);
        for (var i = 0; i < Batches.Count - 1; i++)
            if (Size(Batches[i]) <= (Int128)(policy.Fanout - 1L) * newer[i]) return [.. Batches.GetRange(i, Batches.Count - i)];
        return [];
    }

    /// <summary>Retired parts that no hold protects any more (S4: retired at a seqno below seqno_since).</summary>
    public ImmutableArray<PartRef> Garbage()
    {
        var seqNoSince = SeqNoSince;
        return [.. Retired.Where(r => r.RetiredAt < seqNoSince).Select(r => r.Part)];
    }

    /// <summary>How many keys of compacted appends are remembered, so their retries still answer AlreadyApplied.</summary>
    public const int CompactedKeysKept = 256;

    public long LiveBytes => Batches.Sum(b => b.Parts.Sum(p => p.Bytes));

    /// <summary>Bytes of the updates held in the state itself (inline parts).</summary>
    public long InlineBytes => Batches.Sum(InlineBytesOf);

    private static long InlineBytesOf(Batch batch) => batch.Parts.Sum(p => p.IsInline ? p.Bytes : 0);

    public long RetiredBytes => Retired.Sum(r => r.Part.Bytes);

    private static long Size(Batch batch) => batch.Parts.Sum(p => (long)p.Updates);

    private Outcome<bool> Compact(CompactBatches command)
    {
        var (replaced, parts) = command;
        if (replaced.IsDefaultOrEmpty || replaced.Any(b => b is null || b.Parts.IsDefault) || parts.IsDefault || parts.Any(p => p is null))
            return Reject<bool>(new InvalidInputException("A compaction needs the batches it replaces and its parts."));
        if (InvalidParts(parts) is { } invalid) return Reject<bool>(new InvalidInputException(invalid));
        if (parts.Any(p => p.IsInline))
            return Reject<bool>(new InvalidInputException("A compaction writes its output to stored parts, never inline."));
        var replacedParts = replaced.SelectMany(b => b.Parts).Select(p => p.Name).ToHashSet();
        if (parts.Any(p => replacedParts.Contains(p.Name)))
            return Reject<bool>(new InvalidInputException("A compaction's output must not keep a part it replaces."));
        // This very compaction landed already (a write in doubt that succeeded, perhaps merged again since): the state
        // names its part, so the compactor must not delete it.
        if (NamesAny(parts)) return Unchanged(true, "this compaction landed in an earlier attempt");
        var start = Batches.FindIndex(b => b.Lower == replaced[0].Lower);
        if (start < 0 || start + replaced.Length > Batches.Count
            || !replaced.Select((b, i) => SameBatch(b, Batches[start + i])).All(same => same))
            return Unchanged(false, "the batches changed since the compaction read them");

        var merged = new Batch(replaced[0].Lower, replaced[^1].Upper, parts, IdempotencyKey: "");
        var keys = CompactedKeys.AddRange(Batches.GetRange(start, replaced.Length)
            .Where(b => b.IdempotencyKey.Length > 0).Select(b => CompactedKey.Of(b.IdempotencyKey, b.Upper)));
        var next = Changed(this with
        {
            Batches = Batches.RemoveRange(start, replaced.Length).Insert(start, merged),
            CompactedKeys = keys.Count > CompactedKeysKept ? keys.RemoveRange(0, keys.Count - CompactedKeysKept) : keys,
            // An inline part has no blob to keep for readers: a reader that leased it holds its updates.
            Retired = Retired.AddRange(Batches.GetRange(start, replaced.Length)
                .SelectMany(b => b.Parts).Where(p => !p.IsInline).Select(p => new RetiredPart(p, SeqNo))),
        });
        return Applied(next, true);
    }

    private Outcome<int> Forget(ForgetDeletedParts command)
    {
        var deletable = Garbage().Select(p => p.Name).Intersect(command.Names.IsDefault ? [] : command.Names).ToHashSet();
        if (deletable.Count == 0) return Unchanged(0, "none of these parts is deletable garbage");
        return Applied(Changed(this with { Retired = Retired.RemoveAll(r => deletable.Contains(r.Part.Name)) }),
            deletable.Count);
    }

    /// <summary>Batches are equal by their bounds and part names (deserialized arrays differ by reference).</summary>
    private static bool SameBatch(Batch a, Batch b) =>
        a.Lower == b.Lower && a.Upper == b.Upper && a.Parts.Select(p => p.Name).SequenceEqual(b.Parts.Select(p => p.Name));
}
