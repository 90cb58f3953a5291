using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.Leases;

/// <summary>
/// A lower bound on the times still possible: <c>{t}</c> (every time ≥ t) or empty (no time: closed).
/// Empty sorts after every <c>{t}</c>, so "advance" is always "take the larger".
/// </summary>
[GenerateSerializer, Immutable, Alias("Leases.Frontier")]
[JsonConverter(typeof(FrontierJsonConverter))]
public readonly record struct Frontier : IComparable<Frontier>
{
    /// <summary>The bound t of <c>{t}</c>; 0 when empty.</summary>
    [Id(0)] public ulong Time { get; init; }

    [Id(1)] public bool IsEmpty { get; init; }

    public static Frontier Minimum => default;

    public static Frontier Empty => new() { IsEmpty = true };

    public static Frontier At(ulong time) => new() { Time = time };

    /// <summary>True when <paramref name="time"/> is still possible, that is, this frontier ≤ time.</summary>
    public bool Contains(ulong time) => !IsEmpty && Time <= time;

    public int CompareTo(Frontier other) => (IsEmpty, other.IsEmpty) switch
    {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => -1,
        _ => Time.CompareTo(other.Time),
    };

    /// <summary>Agrees with <see cref="CompareTo"/>: every empty frontier is equal whatever its <see cref="Time"/>,
    /// which a caller can set on the wire.</summary>
    public bool Equals(Frontier other) => CompareTo(other) == 0;

    public override int GetHashCode() => IsEmpty ? -1 : Time.GetHashCode();

    public static Frontier Min(Frontier a, Frontier b) => a.CompareTo(b) <= 0 ? a : b;

    public static Frontier Max(Frontier a, Frontier b) => a.CompareTo(b) >= 0 ? a : b;

    public static bool operator <(Frontier a, Frontier b) => a.CompareTo(b) < 0;
    public static bool operator >(Frontier a, Frontier b) => a.CompareTo(b) > 0;
    public static bool operator <=(Frontier a, Frontier b) => a.CompareTo(b) <= 0;
    public static bool operator >=(Frontier a, Frontier b) => a.CompareTo(b) >= 0;

    public override string ToString() => IsEmpty ? "{}" : $"{{{Time}}}";
}

/// <summary>A frontier in JSON (printed output, and shard states stored as JSON): its time, or <c>null</c> when empty.</summary>
public sealed class FrontierJsonConverter : JsonConverter<Frontier>
{
    public override Frontier Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? Frontier.Empty : Frontier.At(reader.GetUInt64());

    public override void Write(Utf8JsonWriter writer, Frontier value, JsonSerializerOptions options)
    {
        if (value.IsEmpty) writer.WriteNullValue();
        else writer.WriteNumberValue(value.Time);
    }

    public override bool HandleNull => true;
}
