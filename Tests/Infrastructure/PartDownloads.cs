using System.Collections.Concurrent;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;

namespace Orleans.Leases.Tests.Infrastructure;

/// <summary>Sits in a silo's blob client and counts the downloads of part blobs, by part name: what storage saw, not
/// what the service says it did. <see cref="FailNext"/> makes the next download of a part fail as storage would.</summary>
public sealed class PartDownloads(string partsContainer) : HttpPipelinePolicy
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _failing = new(StringComparer.Ordinal);

    public int Of(string part) => _counts.GetValueOrDefault(part);

    public void FailNext(string part) => _failing[part] = true;

    /// <summary>A blob client for Azurite (the service version ShardStorage pins) with this policy in it.</summary>
    public BlobServiceClient Client(string connectionString)
    {
        var options = new BlobClientOptions(BlobClientOptions.ServiceVersion.V2026_06_06);
        options.AddPolicy(this, HttpPipelinePosition.PerCall); // before the SDK's retries: a failure here is final
        return new BlobServiceClient(connectionString, options);
    }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Count(message);
        ProcessNext(message, pipeline);
    }

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Count(message);
        return ProcessNextAsync(message, pipeline);
    }

    private void Count(HttpMessage message)
    {
        if (message.Request.Method != RequestMethod.Get) return;
        var path = Uri.UnescapeDataString(message.Request.Uri.Path);
        var prefix = $"/{partsContainer}/";
        var at = path.IndexOf(prefix, StringComparison.Ordinal);
        if (at < 0 || message.Request.Uri.Query.Contains("comp=", StringComparison.Ordinal)) return; // a listing, not a download
        var part = path[(at + prefix.Length)..];
        if (_failing.TryRemove(part, out _)) throw new RequestFailedException(503, "Storage failed this download (test).");
        _counts.AddOrUpdate(part, 1, (_, n) => n + 1);
    }
}
