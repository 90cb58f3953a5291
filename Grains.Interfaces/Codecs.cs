using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Orleans.Leases;

/// <summary>
/// Turns an application's keys or values into the strings a shard stores, and back. Updates consolidate by their
/// encoded strings, so <see cref="Encode"/> must give equal values equal strings (or a retraction would not cancel
/// what it retracts). <see cref="Decode"/> throws on a string it cannot read; a reader reports that as a
/// <see cref="PartDecodeException"/> naming the part.
/// </summary>
public interface IShardCodec<T>
{
    string Encode(T value);

    T Decode(string encoded);
}

/// <summary>JSON through System.Text.Json with the metadata of a source-generated <c>JsonSerializerContext</c>
/// (<c>MyJsonContext.Default.Order</c>): the codec an application should use. Keys and values are never null, so
/// JSON <c>null</c> does not decode.</summary>
public sealed class JsonShardCodec<T>(JsonTypeInfo<T> typeInfo) : IShardCodec<T>
{
    private readonly JsonTypeInfo<T> _typeInfo = typeInfo ?? throw new ArgumentNullException(nameof(typeInfo));

    public string Encode(T value) =>
        value is null ? throw new ArgumentNullException(nameof(value)) : JsonSerializer.Serialize(value, _typeInfo);

    public T Decode(string encoded) =>
        JsonSerializer.Deserialize(encoded, _typeInfo) ?? throw new JsonException($"JSON null is not a {typeof(T).Name}.");
}

/// <summary>Strings as they are: for keys or values that are strings already, stored readably for string readers.</summary>
public sealed class StringShardCodec : IShardCodec<string>
{
    public static readonly StringShardCodec Instance = new();

    private StringShardCodec() { }

    public string Encode(string value) => value;

    public string Decode(string encoded) => encoded;
}
