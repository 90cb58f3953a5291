using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Serialization;
using Orleans.Storage;

namespace Orleans.Leases.Shards;

/// <summary>
/// The grain storage serializer of the shard state provider alone: writes Orleans' binary format, and reads both it
/// and the JSON that System.Text.Json grain storage wrote before. Set on that provider's options, so the silo's
/// default serializer, which other providers use, stays as it is.
/// </summary>
internal sealed class ShardStateSerializer(Serializer serializer) : IGrainStorageSerializer
{
    /// <summary>The options of Orleans' System.Text.Json grain storage serializer, which wrote the JSON states
    /// (<c>SystemTextJsonGrainStorageSerializerOptions</c>' defaults; its added converters are for types a shard
    /// state does not hold).</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        IncludeFields = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    // The bytes OrleansGrainStorageSerializer writes and reads, written through a pooled buffer into one array of the
    // exact size: its growing ArrayBufferWriter puts a state of many readers on the large object heap several times.
    public BinaryData Serialize<T>(T? input) => new(serializer.SerializeToArray(input));

    public T? Deserialize<T>(BinaryData input) =>
        IsJson(input) ? input.ToObjectFromJson<T>(JsonOptions) : serializer.Deserialize<T>(input.ToMemory());

    /// <summary>True for a state stored as JSON: an object starts with '{'. Orleans' binary format starts with a field
    /// tag, for a state 0x20 (tag-delimited, field 0); '{' (0x7B) would be a fixed-32 field 3, never a first tag.</summary>
    public static bool IsJson(BinaryData data) => data.ToMemory().Span is [(byte)'{', ..];

    /// <summary><paramref name="state"/> as JSON, as states were stored before.</summary>
    public static BinaryData ToJson(ShardState state) => BinaryData.FromObjectAsJson(state, JsonOptions);
}
