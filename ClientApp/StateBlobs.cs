using Azure.Storage.Blobs.Models;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.ClientApp;

/// <summary>The shards' state blobs as stored, read beside the service from the configured storage.</summary>
internal static class StateBlobs
{
    /// <summary>The mean size of the state blobs of the shards whose id contains <paramref name="shardIdPart"/>: what
    /// every state write of theirs writes.</summary>
    public static async Task<long> MeanBytesAsync(string shardIdPart, CancellationToken cancellation)
    {
        var configuration = Cluster.Configuration;
        var container = ShardStorage.CreateBlobServiceClient(configuration[$"{ShardServiceOptions.Section}:StorageConnectionString"] ?? "UseDevelopmentStorage=true")
            .GetBlobContainerClient(configuration[$"{ShardServiceOptions.Section}:StateContainer"] ?? new ShardServiceOptions().StateContainer);
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
