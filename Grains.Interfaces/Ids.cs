using System.Buffers;

namespace Orleans.Leases;

/// <summary>The id of a shard: 1–128 characters of <c>[A-Za-z0-9._-]</c>, not starting or ending with a dot.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ShardId")]
public readonly record struct ShardId
{
    [Id(0)] public string Value { get; }

    public ShardId(string value)
    {
        if (!Identifier.IsValid(value))
            throw new InvalidShardIdException(value);
        Value = value;
    }

    /// <summary>Re-checks an id that arrived over the wire, where the constructor did not run.</summary>
    public ShardId Validated() => new(Value);

    public static bool IsValid(string? value) => Identifier.IsValid(value);

    public override string ToString() => Value;
}

/// <summary>The id of a reader within its shard: 1–128 characters of <c>[A-Za-z0-9._-]</c>, not starting or ending
/// with a dot.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ReaderId")]
public readonly record struct ReaderId
{
    [Id(0)] public string Value { get; }

    public ReaderId(string value)
    {
        if (!Identifier.IsValid(value))
            throw new InvalidReaderIdException(value);
        Value = value;
    }

    public ReaderId Validated() => new(Value);

    public static ReaderId NewId() => new(Guid.NewGuid().ToString("N"));

    public override string ToString() => Value;
}

internal static class Identifier
{
    public const int MaxLength = 128;

    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    /// <summary>Ids name blobs (<c>{shard}/{guid}.json</c>): <c>.</c> and <c>..</c> would be path segments that
    /// escape the shard's prefix or that storage refuses, and Azure advises against segments ending in a dot.</summary>
    public static bool IsValid(string? value) =>
        value is { Length: > 0 and <= MaxLength } && !value.AsSpan().ContainsAnyExcept(Allowed)
        && value[0] != '.' && value[^1] != '.';
}

/// <summary>The key of a reader's <see cref="IReaderLeaseGrain"/>: <c>{shard}/{reader}</c>.</summary>
public static class ReaderLeaseKey
{
    public static string Format(ShardId shard, ReaderId reader) => $"{shard.Value}/{reader.Value}";

    /// <summary>Splits a key; throws the typed error of the part that is malformed.</summary>
    public static (ShardId Shard, ReaderId Reader) Parse(string key)
    {
        var slash = key.IndexOf('/');
        return slash < 0
            ? (new ShardId(key), new ReaderId(""))
            : (new ShardId(key[..slash]), new ReaderId(key[(slash + 1)..]));
    }
}
