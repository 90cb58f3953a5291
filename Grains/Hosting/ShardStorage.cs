using Azure.Storage.Blobs;

namespace Orleans.Leases.Hosting;

/// <summary>Where and how the shard service stores: its grain storage provider and blob client.</summary>
public static class ShardStorage
{
    /// <summary>The grain storage provider holding shard state.</summary>
    public const string Name = "shards";

    /// <summary>Orleans' Azure blob provider under <see cref="ShardStateStorage"/>.</summary>
    internal const string BlobsName = Name + ".blobs";

    /// <summary>A blob client for <paramref name="connectionString"/>. Pinned to a service version that both Azure
    /// and Azurite 3.37 accept.</summary>
    public static BlobServiceClient CreateBlobServiceClient(string connectionString, bool quickRetries = false) =>
        new(connectionString, ClientOptions(quickRetries));

    /// <summary>The service's blob client as <paramref name="options"/> describe it: a service URI with a credential,
    /// or a connection string.</summary>
    public static BlobServiceClient CreateBlobServiceClient(ShardServiceOptions options) => options.StorageServiceUri is { } uri
        ? new(uri, options.StorageCredential ?? throw new InvalidOperationException("Leases:StorageServiceUri needs a StorageCredential."), ClientOptions(false))
        : CreateBlobServiceClient(options.StorageConnectionString);

    private static BlobClientOptions ClientOptions(bool quickRetries)
    {
        var options = new BlobClientOptions(BlobClientOptions.ServiceVersion.V2026_06_06);
        // A request that hangs is retried after 10 s instead of the SDK's 100 s: a stuck write stalls a whole shard.
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        if (quickRetries)
        {
            options.Retry.MaxRetries = 1;
            options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        }
        return options;
    }
}
