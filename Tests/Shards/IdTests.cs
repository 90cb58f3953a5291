using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Orleans.Leases.Tests.Shards;

/// <summary>Ids name blobs, so every id the types accept must be one storage stores under the shard's own prefix.</summary>
public sealed class IdTests
{
    private static readonly Serializer Wire = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

    public static TheoryData<string> Valid => ["a", "a.b", "a..b", "a-", "-a", "_", "A-z_0.9", new string('x', 128)];

    public static TheoryData<string?> Invalid => [null, "", ".", "..", "...", "a.", ".a", ".a.", "a/b", "a b", "é", new string('x', 129)];

    [Theory, MemberData(nameof(Valid))]
    public void Valid_ids_are_accepted_as_shard_and_reader_ids(string id)
    {
        Assert.Equal(id, new ShardId(id).Validated().Value);
        Assert.Equal(id, new ReaderId(id).Validated().Value);
    }

    [Theory, MemberData(nameof(Invalid))]
    public void Invalid_ids_are_refused_as_shard_and_reader_ids(string? id)
    {
        Assert.Throws<InvalidShardIdException>(() => new ShardId(id!));
        Assert.Throws<InvalidReaderIdException>(() => new ReaderId(id!));
    }

    [Fact]
    public void The_errors_state_the_rule()
    {
        Assert.Contains("not starting or ending with '.'", Assert.Throws<InvalidShardIdException>(() => new ShardId("a.")).Message);
        Assert.Contains("not starting or ending with '.'", Assert.Throws<InvalidReaderIdException>(() => new ReaderId(".a")).Message);
    }

    [Fact]
    public void Default_ids_from_the_wire_are_refused_when_validated()
    {
        Assert.Throws<InvalidShardIdException>(() => Wire.Deserialize<ShardId>(Wire.SerializeToArray(default(ShardId))).Validated());
        Assert.Throws<InvalidReaderIdException>(() => Wire.Deserialize<ReaderId>(Wire.SerializeToArray(default(ReaderId))).Validated());
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a.")]
    [InlineData(".a")]
    public void Dotted_ids_from_the_wire_are_refused_when_validated(string id)
    {
        // The constructor never runs on the wire: write a valid id of the same length, then change its characters.
        var stand = new string('q', id.Length);
        var shard = Wire.Deserialize<ShardId>(Tampered(Wire.SerializeToArray(new ShardId(stand)), stand, id));
        var reader = Wire.Deserialize<ReaderId>(Tampered(Wire.SerializeToArray(new ReaderId(stand)), stand, id));

        Assert.Equal((id, id), (shard.Value, reader.Value));
        Assert.Throws<InvalidShardIdException>(() => shard.Validated());
        Assert.Throws<InvalidReaderIdException>(() => reader.Validated());
    }

    private static byte[] Tampered(byte[] bytes, string from, string to)
    {
        var at = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(from));
        Assert.True(at >= 0, "the id is not in the serialized bytes");
        Encoding.UTF8.GetBytes(to).CopyTo(bytes, at);
        return bytes;
    }
}
