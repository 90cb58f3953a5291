using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;

namespace Orleans.Leases.Silo;

/// <summary>Storage reachable: the shard state container answers.</summary>
internal sealed class StorageHealthCheck(
    [FromKeyedServices(ShardStorage.Name)] BlobServiceClient blobs,
    IOptions<ShardServiceOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
    {
        try
        {
            await blobs.GetBlobContainerClient(options.Value.StateContainer).GetPropertiesAsync(cancellationToken: cancellation);
            return HealthCheckResult.Healthy();
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"storage: {StorageCheck.FirstLine(error)}");
        }
    }
}

/// <summary>The service answers: a shard (one kept for this check) is activated, read from storage, and inspected.</summary>
internal sealed class ShardHealthCheck(IGrainFactory grains) : IHealthCheck
{
    public const string ProbeShard = "healthz";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
    {
        try
        {
            await grains.GetGrain<IShardGrain>(ProbeShard).Inspect().WaitAsync(TimeSpan.FromSeconds(5), cancellation);
            return HealthCheckResult.Healthy();
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"shard {ProbeShard}: {StorageCheck.FirstLine(error)}");
        }
    }
}
