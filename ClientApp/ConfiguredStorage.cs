using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.ClientApp;

/// <summary>The storage the silos use, as configured (the <c>Leases</c> section), reached beside the service.</summary>
internal static class ConfiguredStorage
{
    /// <summary>A blob client like the silos' own (same connection string and pinned service version).</summary>
    public static BlobServiceClient Blobs() => ShardStorage.CreateBlobServiceClient(
        Cluster.Configuration[$"{ShardServiceOptions.Section}:StorageConnectionString"] ?? new ShardServiceOptions().StorageConnectionString);

    /// <summary>The mean size of the state blobs of the shards whose id contains <paramref name="shardIdPart"/>: what
    /// every state write of theirs writes.</summary>
    public static async Task<long> MeanStateBytesAsync(string shardIdPart, CancellationToken cancellation)
    {
        var container = Blobs().GetBlobContainerClient(
            Cluster.Configuration[$"{ShardServiceOptions.Section}:StateContainer"] ?? new ShardServiceOptions().StateContainer);
        long bytes = 0, blobs = 0;
        await foreach (var blob in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, null, cancellation))
        {
            if (!blob.Name.Contains(shardIdPart)) continue;
            bytes += blob.Properties.ContentLength ?? 0;
            blobs++;
        }
        return blobs == 0 ? 0 : bytes / blobs;
    }
}
