using System.Collections.Immutable;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;
using Orleans.Serialization;

namespace Orleans.Leases.Parts;

/// <summary>Part blobs: the updates of one part each in Orleans' binary format (parts written before as a JSON array
/// are still read), named <c>{shard}/{guid}.json</c>, written once, never changed; inline parts carry their updates
/// and have no blob. Part names belong to the service: only this store makes them, and it touches no blob whose name
/// it could not have made (S7).</summary>
internal sealed class PartStore(
    [FromKeyedServices(ShardStorage.Name)] BlobServiceClient blobs,
    IOptions<ShardServiceOptions> options,
    ServiceMetrics metrics,
    Serializer serializer,
    PartCache cache)
{
    private readonly BlobContainerClient _container = blobs.GetBlobContainerClient(options.Value.PartsContainer);
    private Task? _created;

    /// <summary>The bytes of a part: about half the JSON they were (28 B against 60 for a small update), and cheaper to
    /// write and read back.</summary>
    public byte[] Encode(ImmutableArray<Update> updates) => serializer.SerializeToArray(updates);

    /// <summary>A part's updates from its bytes. A JSON array starts with '['; Orleans' binary format starts with the
    /// header of field 0, never '[' (0x5B: field 3).</summary>
    public ImmutableArray<Update> Decode(BinaryData content) => content.ToMemory().Span is [(byte)'[', ..]
        ? content.ToObjectFromJson<ImmutableArray<Update>>()
        : serializer.Deserialize<ImmutableArray<Update>>(content.ToMemory());

    public Task<PartRef> WriteAsync(ShardId shard, byte[] encoded, int count) => Typed(shard.Value, async () =>
    {
        await ContainerCreated();
        var name = NewName(shard);
        await _container.GetBlobClient(name).UploadAsync(new BinaryData(encoded), overwrite: false);
        metrics.PartsWritten.Add(1);
        return new PartRef(name, encoded.Length, count);
    });

    /// <summary>Creates the parts container once; an attempt that failed (storage down) is made again by the next
    /// caller, never remembered.</summary>
    private Task ContainerCreated()
    {
        var created = _created;
        if (created is null || created.IsFaulted || created.IsCanceled) _created = created = _container.CreateIfNotExistsAsync();
        return created;
    }

    /// <summary>A part kept in the shard's state: named as a stored one would be, so it has the same identity.</summary>
    public static PartRef Inline(ShardId shard, ImmutableArray<Update> updates, long bytes) =>
        new(NewName(shard), bytes, updates.Length, updates);

    private static string NewName(ShardId shard) => $"{shard.Value}/{Guid.NewGuid():N}{Extension}";

    /// <summary>A part's updates: from the silo's cache when it holds them, from storage otherwise.</summary>
    public Task<ImmutableArray<Update>> ReadAsync(PartRef part)
    {
        var shard = ShardOf(part); // any other name is refused, inline or not
        if (part.Inline is { } inline) return Task.FromResult(inline);
        var updates = cache.GetOrRead(part.Name, () => Typed(shard, async () =>
        {
            metrics.PartReads.Add(1);
            var content = (await _container.GetBlobClient(part.Name).DownloadContentAsync()).Value.Content;
            // Sized as stored, not as the caller's reference says: a client could claim any size.
            return new StoredPart(Decode(content), content.ToMemory().Length);
        }), out var hit);
        if (hit) metrics.PartCacheHits.Add(1);
        return updates;
    }

    /// <summary>Deletes a part; one already gone is fine.</summary>
    public Task DeleteAsync(PartRef part) => part.IsInline ? Task.CompletedTask : Typed(ShardOf(part), async () =>
    {
        var deleted = await _container.GetBlobClient(part.Name).DeleteIfExistsAsync();
        cache.Remove(part.Name); // after: a read finishing before the delete would otherwise put it back
        if (deleted.Value) metrics.PartsDeleted.Add(1);
        return deleted.Value;
    });

    private const string Extension = ".json";
    private const int GuidDigits = 32;

    /// <summary>The shard a part belongs to; <see cref="InvalidPartException"/> for a reference this store did not
    /// make (so no value can name a blob outside the shard's own parts).</summary>
    public static string ShardOf(PartRef? part) =>
        TryShardOf(part?.Name, out var shard) ? shard : throw new InvalidPartException($"'{part?.Name}' is not the name of a stored part.");

    /// <summary>True when <paramref name="name"/> has the shape of the names <see cref="WriteAsync"/> makes.</summary>
    private static bool TryShardOf(string? name, out string shard)
    {
        var slash = name?.IndexOf('/') ?? -1;
        shard = slash > 0 ? name![..slash] : "";
        return slash > 0 && name!.Length == slash + 1 + GuidDigits + Extension.Length
               && ShardId.IsValid(shard)
               && !name.AsSpan(slash + 1, GuidDigits).ContainsAnyExcept("0123456789abcdef")
               && name.EndsWith(Extension, StringComparison.Ordinal);
    }

    /// <summary>Refuses <paramref name="parts"/> unless each is one of <paramref name="shard"/>'s own.</summary>
    public static void CheckPartsOf(ShardId shard, ImmutableArray<PartRef> parts)
    {
        foreach (var part in parts.IsDefault ? [] : parts)
            if (ShardOf(part) != shard.Value)
                throw new InvalidPartException($"Part '{part.Name}' does not belong to shard '{shard.Value}'.");
    }

    /// <summary>Storage failures reach callers as <see cref="ShardStorageException"/>, naming the shard.</summary>
    private static async Task<T> Typed<T>(string shard, Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception error) when (error is RequestFailedException or AggregateException or HttpRequestException)
        {
            throw new ShardStorageException(shard, error.GetBaseException().Message);
        }
    }

    /// <summary>The shard's part blobs with their creation times.</summary>
    public async IAsyncEnumerable<(PartRef Part, DateTimeOffset Created)> ListAsync(ShardId shard)
    {
        // A shard whose batches were all inline may have made no part yet.
        await Typed(shard.Value, async () => { await ContainerCreated(); return true; });
        await foreach (var blob in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, shard.Value + "/", default))
            if (TryShardOf(blob.Name, out var owner) && owner == shard.Value) // a blob of another shape is not ours to delete
                yield return (new PartRef(blob.Name, blob.Properties.ContentLength ?? 0, 0), blob.Properties.CreatedOn ?? DateTimeOffset.MinValue);
    }
}
