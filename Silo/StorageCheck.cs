using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Orleans.Leases.Configuration;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Silo;

/// <summary>Fails fast on storage the silo cannot use, rather than letting startup or the first grain call find out.</summary>
internal static class StorageCheck
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>Creates the service's containers, answering what went wrong, or null.</summary>
    public static async Task<string?> FindProblemAsync(ShardServiceOptions options)
    {
        BlobServiceClient blobs;
        try
        {
            blobs = ShardStorage.CreateBlobServiceClient(options.StorageConnectionString, quickRetries: true);
        }
        catch (Exception malformed) when (IsMalformed(malformed))
        {
            return $"is not a storage connection string: {FirstLine(malformed)}";
        }

        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            foreach (var container in new[] { options.StateContainer, options.PartsContainer })
                await blobs.GetBlobContainerClient(container).CreateIfNotExistsAsync(cancellationToken: timeout.Token);
            return null;
        }
        catch (OperationCanceledException)
        {
            return $"storage unreachable: no answer from {blobs.Uri} within {Patience.TotalSeconds:0} s";
        }
        catch (Exception error)
        {
            return $"storage unreachable: {blobs.Uri}: {FirstLine(error)}";
        }
    }

    /// <summary>A table client for the membership table's account; a malformed connection string names the setting.</summary>
    public static TableServiceClient CreateTableServiceClient(ClusterSettings cluster, bool quickRetries = false)
    {
        var options = new TableClientOptions();
        if (quickRetries)
        {
            options.Retry.MaxRetries = 1;
            options.Retry.Delay = TimeSpan.FromMilliseconds(200);
            options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        }
        try
        {
            return new TableServiceClient(cluster.ConnectionString, options);
        }
        catch (Exception malformed) when (IsMalformed(malformed))
        {
            throw new InvalidSettingException($"{ClusterSettings.Section}:ConnectionString",
                $"is not a storage connection string: {FirstLine(malformed)}");
        }
    }

    /// <summary>Asks the membership table's account for its tables, answering what went wrong, or null.</summary>
    public static async Task<string?> FindTableProblemAsync(ClusterSettings cluster)
    {
        var tables = CreateTableServiceClient(cluster, quickRetries: true);
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            await foreach (var _ in tables.QueryAsync(maxPerPage: 1, cancellationToken: timeout.Token)) break;
            return null;
        }
        catch (OperationCanceledException)
        {
            return $"storage unreachable: no answer from {tables.Uri} within {Patience.TotalSeconds:0} s";
        }
        catch (Exception error)
        {
            return $"storage unreachable: {tables.Uri}: {FirstLine(error)}";
        }
    }

    private static bool IsMalformed(Exception error) =>
        error is FormatException or ArgumentException or InvalidOperationException;

    /// <summary>The innermost reason, first line only: the SDKs' messages run to many lines of headers.</summary>
    public static string FirstLine(Exception error)
    {
        var innermost = error is AggregateException many ? many.Flatten().InnerExceptions[0].GetBaseException() : error.GetBaseException();
        return innermost.Message.Split('\n')[0].Trim();
    }
}
