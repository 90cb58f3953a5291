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

    public async Task<PartRef> WriteAsync(ShardId shard, byte[] encoded, int count)
    {
        await _created.Value;
        var name = $"{shard.Value}/{Guid.NewGuid():N}.json";
        await _container.GetBlobClient(name).UploadAsync(new BinaryData(encoded), overwrite: false);
        metrics.PartsWritten.Add(1);
        return new PartRef(name, encoded.Length, count);
    }

    public async Task<ImmutableArray<Update>> ReadAsync(PartRef part)
    {
        var content = await _container.GetBlobClient(part.Name).DownloadContentAsync();
        return content.Value.Content.ToObjectFromJson<ImmutableArray<Update>>();
    }

    /// <summary>Deletes a part; one already gone is fine.</summary>
    public async Task DeleteAsync(PartRef part)
    {
        var deleted = await _container.GetBlobClient(part.Name).DeleteIfExistsAsync();
        if (deleted.Value) metrics.PartsDeleted.Add(1);
    }

    /// <summary>The shard's part blobs with their creation times.</summary>
    public async IAsyncEnumerable<(PartRef Part, DateTimeOffset Created)> ListAsync(ShardId shard)
    {
        await foreach (var blob in _container.GetBlobsAsync(BlobTraits.None, BlobStates.None, shard.Value + "/", default))
            yield return (new PartRef(blob.Name, blob.Properties.ContentLength ?? 0, 0), blob.Properties.CreatedOn ?? DateTimeOffset.MinValue);
    }

    public async Task<bool> ExistsAsync(PartRef part) => (await _container.GetBlobClient(part.Name).ExistsAsync()).Value;
}
