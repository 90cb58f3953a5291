using Azure;
using Azure.Storage.Blobs;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Silo;

internal static class StorageCheck
{
    /// <summary>Creates the service's containers, answering what went wrong, or null. Fails fast rather than
    /// letting the first grain call find out.</summary>
    public static async Task<string?> FindProblemAsync(ShardServiceOptions options)
    {
        try
        {
            var blobs = ShardStorage.CreateBlobServiceClient(options.StorageConnectionString);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            foreach (var container in new[] { options.StateContainer, options.PartsContainer })
                await blobs.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: timeout.Token);
            return null;
        }
        catch (Exception error) when (error is RequestFailedException or AggregateException or OperationCanceledException
                                          or FormatException or ArgumentException or InvalidOperationException)
        {
            return error.Message.Split('\n')[0].Trim();
        }
    }
}
