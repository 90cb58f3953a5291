using Azure.Storage.Blobs;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Silo;

internal static class StorageCheck
{
    /// <summary>Creates the service's containers, answering what went wrong, or null. Fails fast rather than
    /// letting the first grain call find out.</summary>
    public static async Task<string?> FindProblemAsync(ShardServiceOptions options)
    {
        BlobServiceClient blobs;
        try
        {
            blobs = ShardStorage.CreateBlobServiceClient(options.StorageConnectionString, quickRetries: true);
        }
        catch (Exception malformed) when (malformed is FormatException or ArgumentException or InvalidOperationException)
        {
            return $"the connection string is malformed: {malformed.Message}";
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            foreach (var container in new[] { options.StateContainer, options.PartsContainer })
                await blobs.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: timeout.Token);
            return null;
        }
        catch (OperationCanceledException)
        {
            return $"no answer from {blobs.Uri} within 15 s";
        }
        catch (Exception error)
        {
            // Any failure here means the silo cannot work; report the innermost reason.
            var innermost = error is AggregateException many ? many.Flatten().InnerExceptions[0].GetBaseException() : error.GetBaseException();
            return $"{blobs.Uri}: {innermost.Message.Split('\n')[0].Trim()}";
        }
    }
}
