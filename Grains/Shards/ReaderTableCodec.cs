using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.GeneratedCodeHelpers;
using Orleans.Serialization.WireProtocol;

namespace Orleans.Leases.Shards;

/// <summary>
/// Stores a <see cref="ReaderTable"/> in Orleans' wire format: its readers alone, in id order, each a tag-delimited
/// object of numbered fields; its minima are rebuilt on read (<see cref="ReaderTable.From"/>). Every reader of a shard
/// is rewritten with each state write, so this codec writes them straight from the table: no object per reader or per
/// string to track (as a surrogate of generated serializers would have), strings that readers share (purposes, the
/// client part of their observers' ids) once per state, a hex SHA-256 secret hash as its 32 bytes, and no field at its
/// default. A reader skips the fields it does not know, so fields can be added; each field counts as a value in
/// Orleans' reference numbering (as a skipped field does), so what follows a skipped field still resolves.
/// </summary>
[RegisterSerializer]
internal sealed class ReaderTableCodec : IFieldCodec<ReaderTable>
{
    // The table's fields: shared strings first (each field 0, in order; referred to by their position + 1), then readers.
    private const uint SharedString = 0, Reader = 1;

    // A reader's fields. A new ReaderState property needs one here, or it is lost at the next write.
    private const uint Id = 0, SinceTime = 1, SinceEmpty = 2, SeqNoHold = 3, HeartbeatTicks = 4, HeartbeatOffsetMinutes = 5,
        LeaseDurationTicks = 6, HeartbeatIntervalTicks = 7, Purpose = 8, Lease = 9 /* lease id, seqno, … (repeated) */,
        NextLeaseId = 10, ClientPrefix = 11, Client = 12, SecretHash = 13, SecretHashText = 14;

    private const int HashBytes = 32;
    private static readonly SearchValues<char> UpperHex = SearchValues.Create("0123456789ABCDEF");

    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, ReaderTable? value)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (ReferenceCodec.TryWriteReferenceField(ref writer, fieldIdDelta, expectedType, value)) return;
        writer.WriteStartObject(fieldIdDelta, expectedType, typeof(ReaderTable));

        var strings = new List<string>();
        var shared = new Dictionary<string, uint>(StringComparer.Ordinal); // string → its position + 1
        var lookup = shared.GetAlternateLookup<ReadOnlySpan<char>>(); // no string made per reader for its client prefix
        foreach (var (_, r) in value!)
        {
            if (!string.IsNullOrEmpty(r.Purpose) && !shared.ContainsKey(r.Purpose)) Share(r.Purpose);
            var split = ClientSplit(r.Client);
            if (split > 0 && !lookup.ContainsKey(r.Client.AsSpan(0, split))) Share(r.Client![..split]);
        }
        void Share(string s)
        {
            strings.Add(s);
            shared.Add(s, (uint)strings.Count);
        }
        var previous = SharedString;
        foreach (var s in strings) Text(ref writer, ref previous, SharedString, s);

        Span<byte> hashBytes = stackalloc byte[HashBytes];
        foreach (var (id, r) in value)
        {
            ReferenceCodec.MarkValueField(writer.Session);
            writer.WriteFieldHeaderExpected(Reader - previous, WireType.TagDelimited);
            previous = Reader;
            var field = Id;
            Text(ref writer, ref field, Id, id);
            Number(ref writer, ref field, SinceTime, r.Since.Time);
            Number(ref writer, ref field, SinceEmpty, r.Since.IsEmpty ? 1UL : 0);
            Number(ref writer, ref field, SeqNoHold, r.SeqNoHold);
            Number(ref writer, ref field, HeartbeatTicks, (ulong)r.LastHeartbeat.Ticks);
            Signed(ref writer, ref field, HeartbeatOffsetMinutes, (long)r.LastHeartbeat.Offset.TotalMinutes); // whole minutes
            Signed(ref writer, ref field, LeaseDurationTicks, r.LeaseDuration.Ticks);
            Signed(ref writer, ref field, HeartbeatIntervalTicks, r.HeartbeatInterval.Ticks);
            Number(ref writer, ref field, Purpose, string.IsNullOrEmpty(r.Purpose) ? 0 : shared[r.Purpose]);
            foreach (var (lease, seqNo) in r.Leases)
            {
                Number(ref writer, ref field, Lease, lease, always: true);
                Number(ref writer, ref field, Lease, seqNo, always: true);
            }
            Number(ref writer, ref field, NextLeaseId, r.NextLeaseId);
            if (r.Client is { } client)
            {
                var split = ClientSplit(client);
                Number(ref writer, ref field, ClientPrefix, split > 0 ? lookup[client.AsSpan(0, split)] : 0);
                Text(ref writer, ref field, Client, client.AsSpan(split));
            }
            if (r.SecretHash is { Length: 2 * HashBytes } hash && !hash.AsSpan().ContainsAnyExcept(UpperHex))
            {
                Convert.FromHexString(hash, hashBytes, out _, out _);
                ReferenceCodec.MarkValueField(writer.Session);
                writer.WriteFieldHeaderExpected(SecretHash - field, WireType.LengthPrefixed);
                writer.WriteVarUInt32(HashBytes);
                writer.Write(hashBytes);
            }
            else if (r.SecretHash is { } text)
                Text(ref writer, ref field, SecretHashText, text);
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }

    public ReaderTable ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        if (field.WireType == WireType.Reference) return ReferenceCodec.ReadReference<ReaderTable, TInput>(ref reader, field)!;
        if (field.FieldType is { } type && type != typeof(ReaderTable)) return reader.DeserializeUnexpectedType<TInput, ReaderTable>(ref field);
        field.EnsureWireTypeTagDelimited();
        var placeholder = ReferenceCodec.CreateRecordPlaceholder(reader.Session);

        var shared = new List<string>();
        var readers = new List<KeyValuePair<string, ReaderState>>();
        uint id = 0;
        while (true)
        {
            var header = reader.ReadFieldHeader();
            if (header.IsEndBaseOrEndObject) break;
            id += header.FieldIdDelta;
            switch (id)
            {
                case SharedString:
                    shared.Add(ReadText(ref reader, header));
                    break;
                case Reader:
                    header.EnsureWireTypeTagDelimited();
                    ReferenceCodec.MarkValueField(reader.Session);
                    readers.Add(ReadReader(ref reader, shared));
                    break;
                default:
                    reader.ConsumeUnknownField(header);
                    break;
            }
        }

        var table = ReaderTable.From(readers);
        ReferenceCodec.RecordObject(reader.Session, table, placeholder);
        return table;
    }

    private static KeyValuePair<string, ReaderState> ReadReader<TInput>(ref Reader<TInput> reader, List<string> shared)
    {
        string? At(ulong index) => index == 0 ? null : shared[checked((int)index - 1)];

        var id = "";
        ulong sinceTime = 0, seqNoHold = 0, heartbeatTicks = 0, nextLeaseId = 0, clientPrefix = 0;
        var sinceEmpty = false;
        long offsetMinutes = 0, leaseTicks = 0, intervalTicks = 0;
        string? purpose = null, client = null, secretHash = null;
        ulong? leaseId = null;
        ImmutableSortedDictionary<ulong, ulong>.Builder? leases = null;
        Span<byte> hashBuffer = stackalloc byte[HashBytes];
        uint field = 0;
        while (true)
        {
            var header = reader.ReadFieldHeader();
            if (header.IsEndBaseOrEndObject) break;
            field += header.FieldIdDelta;
            switch (field)
            {
                case Id: id = ReadText(ref reader, header); break;
                case SinceTime: sinceTime = ReadNumber(ref reader, header); break;
                case SinceEmpty: sinceEmpty = ReadNumber(ref reader, header) != 0; break;
                case SeqNoHold: seqNoHold = ReadNumber(ref reader, header); break;
                case HeartbeatTicks: heartbeatTicks = ReadNumber(ref reader, header); break;
                case HeartbeatOffsetMinutes: offsetMinutes = ReadSigned(ref reader, header); break;
                case LeaseDurationTicks: leaseTicks = ReadSigned(ref reader, header); break;
                case HeartbeatIntervalTicks: intervalTicks = ReadSigned(ref reader, header); break;
                case Purpose: purpose = At(ReadNumber(ref reader, header)); break;
                case Lease:
                    var value = ReadNumber(ref reader, header);
                    if (leaseId is { } lease)
                    {
                        (leases ??= ImmutableSortedDictionary.CreateBuilder<ulong, ulong>())[lease] = value;
                        leaseId = null;
                    }
                    else leaseId = value;
                    break;
                case NextLeaseId: nextLeaseId = ReadNumber(ref reader, header); break;
                case ClientPrefix: clientPrefix = ReadNumber(ref reader, header); break;
                case Client: client = ReadText(ref reader, header); break;
                case SecretHash:
                    header.EnsureWireType(WireType.LengthPrefixed);
                    ReferenceCodec.MarkValueField(reader.Session);
                    var length = reader.ReadVarUInt32();
                    var bytes = length <= HashBytes ? hashBuffer[..(int)length] : new byte[length];
                    reader.ReadBytes(bytes);
                    secretHash = Convert.ToHexString(bytes);
                    break;
                case SecretHashText: secretHash = ReadText(ref reader, header); break;
                default: reader.ConsumeUnknownField(header); break;
            }
        }

        return KeyValuePair.Create(id, new ReaderState
        {
            Since = sinceEmpty ? Frontier.Empty with { Time = sinceTime } : Frontier.At(sinceTime),
            SeqNoHold = seqNoHold,
            LastHeartbeat = new DateTimeOffset((long)heartbeatTicks, TimeSpan.FromTicks(offsetMinutes * TimeSpan.TicksPerMinute)),
            LeaseDuration = TimeSpan.FromTicks(leaseTicks),
            HeartbeatInterval = TimeSpan.FromTicks(intervalTicks),
            Purpose = purpose ?? "",
            Leases = leases?.ToImmutable() ?? ImmutableSortedDictionary<ulong, ulong>.Empty,
            NextLeaseId = nextLeaseId,
            Client = client is null ? null : At(clientPrefix) + client,
            SecretHash = secretHash,
        });
    }

    /// <summary>Where a client id's shared part ends: after its last '+' (an observer id is
    /// <c>sys.client/{client}+{observer}</c>, and a client opens many readers); 0 when it has none.</summary>
    private static int ClientSplit(string? client) => client is null ? 0 : client.LastIndexOf('+') + 1;

    private static void Number<TBufferWriter>(ref Writer<TBufferWriter> writer, ref uint previous, uint field, ulong value, bool always = false)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (value == 0 && !always) return;
        ReferenceCodec.MarkValueField(writer.Session);
        writer.WriteFieldHeaderExpected(field - previous, WireType.VarInt);
        writer.WriteVarUInt64(value);
        previous = field;
    }

    private static void Signed<TBufferWriter>(ref Writer<TBufferWriter> writer, ref uint previous, uint field, long value)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (value == 0) return;
        ReferenceCodec.MarkValueField(writer.Session);
        writer.WriteFieldHeaderExpected(field - previous, WireType.VarInt);
        writer.WriteVarInt64(value);
        previous = field;
    }

    private static void Text<TBufferWriter>(ref Writer<TBufferWriter> writer, ref uint previous, uint field, ReadOnlySpan<char> value)
        where TBufferWriter : IBufferWriter<byte>
    {
        ReferenceCodec.MarkValueField(writer.Session);
        writer.WriteFieldHeaderExpected(field - previous, WireType.LengthPrefixed);
        var length = Encoding.UTF8.GetByteCount(value);
        writer.WriteVarUInt32((uint)length);
        var rented = length <= 512 ? null : ArrayPool<byte>.Shared.Rent(length);
        var bytes = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
        Encoding.UTF8.GetBytes(value, bytes);
        writer.Write(bytes);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        previous = field;
    }

    private static ulong ReadNumber<TInput>(ref Reader<TInput> reader, Field header)
    {
        header.EnsureWireType(WireType.VarInt);
        ReferenceCodec.MarkValueField(reader.Session);
        return reader.ReadVarUInt64();
    }

    private static long ReadSigned<TInput>(ref Reader<TInput> reader, Field header)
    {
        header.EnsureWireType(WireType.VarInt);
        ReferenceCodec.MarkValueField(reader.Session);
        return reader.ReadVarInt64();
    }

    private static string ReadText<TInput>(ref Reader<TInput> reader, Field header)
    {
        header.EnsureWireType(WireType.LengthPrefixed);
        ReferenceCodec.MarkValueField(reader.Session);
        return StringCodec.ReadRaw(ref reader, reader.ReadVarUInt32());
    }
}
