using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Orleans.Leases;

/// <summary>
/// The service's traces: spans for append, snapshot (lease and wait), sync, compaction and garbage collection, under
/// one <see cref="ActivitySource"/>. Export them with <c>AddSource(LeasesTelemetry.ActivitySourceName)</c>; with
/// Orleans' activity propagation (<c>AddActivityPropagation()</c> on silos and clients) a span's grain calls are its
/// children, across grains and silos. Its instruments are under one meter, <see cref="MeterName"/>: the silos' and,
/// in a client, <c>leases.snapshot.duration</c>.
/// </summary>
public static class LeasesTelemetry
{
    public const string ActivitySourceName = "Orleans.Leases";

    public const string MeterName = "Orleans.Leases";

    internal static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>Latency buckets from 1 ms (an inline append) to 30 s (the response timeout).</summary>
    internal static readonly InstrumentAdvice<double> LatencyBuckets =
        new() { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30] };

    // A client has no meter factory of the service's: its instruments live as long as the process.
    private static readonly Meter ClientMeter = new(MeterName);

    internal static readonly Histogram<double> SnapshotDuration = ClientMeter.CreateHistogram("leases.snapshot.duration", "s",
        "A leased snapshot from the client's call to its lease, waits for the shard's upper included", advice: LatencyBuckets);

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
