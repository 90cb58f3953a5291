using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Leases.Tests.Infrastructure;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

public sealed record OrderKey(string Region, int Number);

public enum OrderStatus { Placed, Shipped }

public sealed record Order(string Item, decimal Amount, DateTimeOffset PlacedAt, OrderStatus Status, string? Note);

[JsonSerializable(typeof(OrderKey))]
[JsonSerializable(typeof(Order))]
internal sealed partial class OrdersJson : JsonSerializerContext;

/// <summary>A codec of the application's own: "x,y".</summary>
public readonly record struct Point(int X, int Y);

public sealed class PointCodec : IShardCodec<Point>
{
    public string Encode(Point value) => string.Create(CultureInfo.InvariantCulture, $"{value.X},{value.Y}");

    public Point Decode(string encoded) => encoded.Split(',') is [var x, var y]
        ? new Point(int.Parse(x, CultureInfo.InvariantCulture), int.Parse(y, CultureInfo.InvariantCulture))
        : throw new FormatException($"Not a point: '{encoded}'.");
}

[Collection(ShardCluster.Name)]
public sealed class TypedDataTests(ShardClusterFixture fixture)
{
    private static readonly JsonShardCodec<OrderKey> OrderKeys = new(OrdersJson.Default.OrderKey);
    private static readonly JsonShardCodec<Order> Orders = new(OrdersJson.Default.Order);

    private ShardClient Shards => fixture.Shards;

    [Fact]
    public async Task An_app_record_round_trips_exactly_through_append_and_snapshot_read()
    {
        var shard = ClusterFixture.NewShard("typed");
        var writer = Shards.Writer(shard, OrderKeys, Orders);
        var eu = new OrderKey("eu", 1);
        var us = new OrderKey("us", 7);
        var placed = new Order("kettle", 12.50m, new DateTimeOffset(2026, 3, 1, 9, 30, 0, TimeSpan.FromHours(2)), OrderStatus.Placed, "gift ✓");
        var shipped = placed with { Status = OrderStatus.Shipped, Note = null };
        var other = new Order("mug", 3m, DateTimeOffset.UnixEpoch, OrderStatus.Placed, null);
        await writer.CompareAndAppendAsync([new(eu, placed, 0, 1), new(us, other, 1, 2)], F(0), F(2));
        await writer.CompareAndAppendAsync([new(eu, placed, 2, -1), new(eu, shipped, 2, 1)], F(2), F(3));

        await using var reader = await Shards.OpenReaderAsync(shard, OrderKeys, Orders, new LeaseSettings());
        var before = await reader.SnapshotAsync(1);
        var after = await reader.SnapshotAsync(2);

        Assert.Equal([(eu, placed, 1), (us, other, 2)], (await reader.ReadAsync(before)).ToArray());
        var rows = (await reader.ReadAsync(after)).ToArray();
        Assert.Equal([(eu, shipped, 1), (us, other, 2)], rows);
        // Record equality ignores an offset and a decimal's scale: both come back as written.
        Assert.Equal(TimeSpan.FromHours(2), rows[0].Value.PlacedAt.Offset);
        Assert.Equal("12.50", rows[0].Value.Amount.ToString(CultureInfo.InvariantCulture));
        // Stored as the codecs' strings, as any string reader sees them.
        Assert.Equal([(OrderKeys.Encode(eu), Orders.Encode(shipped), 1), (OrderKeys.Encode(us), Orders.Encode(other), 2)],
            (await Shards.ReadAsync(shard, 2)).ToArray());
        await reader.ReturnLeaseAsync(before);
        await reader.ReturnLeaseAsync(after);
    }

    [Fact]
    public async Task A_codec_of_the_applications_own_encodes_and_decodes_through_the_shard()
    {
        var shard = ClusterFixture.NewShard("user-codec");
        var points = new PointCodec();
        await Shards.Writer(shard, points, StringShardCodec.Instance)
            .CompareAndAppendAsync([new(new Point(1, 2), "a", 0, 1), new(new Point(-3, 4), "b", 0, 1)], F(0), F(1));

        await using var reader = await Shards.OpenReaderAsync(shard, points, StringShardCodec.Instance, new LeaseSettings());
        var leased = await reader.SnapshotAsync(0);

        Assert.Equal([(new Point(-3, 4), "b", 1), (new Point(1, 2), "a", 1)], (await reader.ReadAsync(leased)).ToArray()); // in stored order
        Assert.Equal([("-3,4", "b", 1), ("1,2", "a", 1)], (await Shards.ReadAsync(shard, 0)).ToArray());
        await reader.ReturnLeaseAsync(leased);
    }

    [Fact]
    public async Task A_part_that_does_not_decode_is_a_PartDecodeException_naming_the_shard_and_part()
    {
        var shard = ClusterFixture.NewShard("bad-part");
        var key = new OrderKey("eu", 1);
        var order = new Order("kettle", 12.50m, DateTimeOffset.UnixEpoch, OrderStatus.Placed, null);
        await Shards.Writer(shard, OrderKeys, Orders).CompareAndAppendAsync([new(key, order, 0, 1)], F(0), F(1));
        var goodParts = await fixture.PartBlobsAsync(shard);
        await Shards.Writer(shard).CompareAndAppendAsync([At(1, OrderKeys.Encode(key), "[1, 2]")], F(1), F(2)); // JSON, not an order
        var badPart = Assert.Single((await fixture.PartBlobsAsync(shard)).Except(goodParts));
        await using var reader = await Shards.OpenReaderAsync(shard, OrderKeys, Orders, new LeaseSettings());
        var leased = await reader.SnapshotAsync(1);

        var error = await Assert.ThrowsAsync<PartDecodeException>(() => reader.ReadAsync(leased));

        Assert.Equal((shard.Value, badPart), (error.ShardId, error.PartName));
        Assert.IsType<JsonException>(error.InnerException);
        Assert.Contains($"Part '{badPart}' of shard '{shard.Value}' has a value", error.Message);
        // The reader carries on: its lease goes back, and a read that does not reach the part succeeds.
        await reader.ReturnLeaseAsync(leased);
        var earlier = await reader.SnapshotAsync(0);
        Assert.Equal([(key, order, 1)], (await reader.ReadAsync(earlier)).ToArray());
        await reader.ReturnLeaseAsync(earlier);
    }

    [Fact]
    public async Task A_typed_subscription_yields_decoded_records_and_a_part_that_does_not_decode_ends_it_naming_the_part()
    {
        var shard = ClusterFixture.NewShard("typed-listen");
        var writer = Shards.Writer(shard, OrderKeys, Orders);
        var key = new OrderKey("eu", 1);
        var placed = new Order("kettle", 12.50m, DateTimeOffset.UnixEpoch, OrderStatus.Placed, null);
        var shipped = placed with { Status = OrderStatus.Shipped };
        await writer.CompareAndAppendAsync([new(key, placed, 0, 1)], F(0), F(1));
        await using var reader = await Shards.OpenReaderAsync(shard, OrderKeys, Orders, new LeaseSettings());
        await using var events = reader.SubscribeAsync(0, new ListenOptions()).GetAsyncEnumerator();

        Assert.True(await events.MoveNextAsync());
        Assert.Equal([new Update<OrderKey, Order>(key, placed, 0, 1)], Assert.IsType<ListenEvent<OrderKey, Order>.Updates>(events.Current).Batch.ToArray());
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(F(1), Assert.IsType<ListenEvent<OrderKey, Order>.Progress>(events.Current).Upper);

        await writer.CompareAndAppendAsync([new(key, placed, 1, -1), new(key, shipped, 1, 1)], F(1), F(2));
        Assert.True(await events.MoveNextAsync());
        Assert.Equal([new Update<OrderKey, Order>(key, placed, 1, -1), new Update<OrderKey, Order>(key, shipped, 1, 1)],
            Assert.IsType<ListenEvent<OrderKey, Order>.Updates>(events.Current).Batch.OrderBy(u => u.Diff).ToArray());
        Assert.True(await events.MoveNextAsync()); // progress 2

        var goodParts = await fixture.PartBlobsAsync(shard);
        await Shards.Writer(shard).CompareAndAppendAsync([At(2, OrderKeys.Encode(key), "[1, 2]")], F(2), F(3)); // JSON, not an order
        var badPart = Assert.Single((await fixture.PartBlobsAsync(shard)).Except(goodParts));
        var error = await Assert.ThrowsAsync<PartDecodeException>(async () => await events.MoveNextAsync());
        Assert.Equal((shard.Value, badPart), (error.ShardId, error.PartName));
    }

    [Fact]
    public void JSON_null_does_not_decode_to_a_key_or_value()
    {
        Assert.Throws<JsonException>(() => Orders.Decode("null"));
        Assert.Throws<ArgumentNullException>(() => Orders.Encode(null!));
    }
}
