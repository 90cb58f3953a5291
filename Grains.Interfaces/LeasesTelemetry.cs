using System.Diagnostics;

namespace Orleans.Leases;

/// <summary>
/// The service's traces: spans for append, snapshot (lease and wait), sync, compaction and garbage collection, under
/// one <see cref="ActivitySource"/>. Export them with <c>AddSource(LeasesTelemetry.ActivitySourceName)</c>; with
/// Orleans' activity propagation (<c>AddActivityPropagation()</c> on silos and clients) a span's grain calls are its
/// children, across grains and silos.
/// </summary>
public static class LeasesTelemetry
{
    public const string ActivitySourceName = "Orleans.Leases";

    internal static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>Runs <paramref name="operation"/> in a span named <paramref name="name"/> (tagged with the shard),
    /// marked failed when it throws.</summary>
    internal static async Task<T> TraceAsync<T>(string name, ShardId shard, Func<Activity?, Task<T>> operation,
        ActivityKind kind = ActivityKind.Internal)
    {
        using var span = Source.StartActivity(name, kind);
        span?.SetTag("leases.shard", shard.Value);
        try
        {
            return await operation(span);
        }
        catch (Exception error)
        {
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            throw;
        }
    }
}
