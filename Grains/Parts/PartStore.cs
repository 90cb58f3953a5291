using System.Collections.Immutable;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Parts;

/// <summary>Part blobs: one JSON array of updates each, named <c>{shard}/{guid}.json</c>, written once, never
/// changed.</summary>
public sealed class PartStore(BlobServiceClient blobs, IOptions<ShardServiceOptions> options, ServiceMetrics metrics)
{
    private readonly BlobContainerClient _container = blobs.GetBlobContainerClient(options.Value.PartsContainer);
    private readonly Lazy<Task> _created = new(() => blobs.GetBlobContainerClient(options.Value.PartsContainer).CreateIfNotExistsAsync());

    public static byte[] Encode(ImmutableArray<Update> updates) => JsonSerializer.SerializeToUtf8Bytes(updates);

    public Task<PartRef> WriteAsync(ShardId shard, byte[] encoded, int count) => Typed(shard.Value, async () =>
    {
        await _created.Value;
        var name = $"{shard.Value}/{Guid.NewGuid():N}.json";
        await _container.GetBlobClient(name).UploadAsync(new BinaryData(encoded), overwrite: false);
        metrics.PartsWritten.Add(1);
        return new PartRef(name, encoded.Length, count);
    });

    public Task<ImmutableArray<Update>> ReadAsync(PartRef part) => Typed(ShardOf(part), async () =>
    {
        var content = await _container.GetBlobClient(part.Name).DownloadContentAsync();
        return content.Value.Content.ToObjectFromJson<ImmutableArray<Update>>();
    });

    /// <summary>Deletes a part; one already gone is fine.</summary>
    public Task DeleteAsync(PartRef part) => Typed(ShardOf(part), async () =>
    {
        var deleted = await _container.GetBlobClient(part.Name).DeleteIfExistsAsync();
        if (deleted.Value) metrics.PartsDeleted.Add(1);
        return deleted.Value;
    });

    private static string ShardOf(PartRef part) => part.Name.Split('/')[0];

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
        await foreach (var blob in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, shard.Value + "/", default))
            yield return (new PartRef(blob.Name, blob.Properties.ContentLength ?? 0, 0), blob.Properties.CreatedOn ?? DateTimeOffset.MinValue);
    }
}
