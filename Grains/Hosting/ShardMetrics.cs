using System.Diagnostics.Metrics;

namespace Orleans.Leases.Hosting;

/// <summary>The service's instruments, under one meter named <see cref="MeterName"/>.</summary>
public sealed class ShardMetrics
{
    public const string MeterName = "Orleans.Leases";

    public ShardMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        Commands = meter.CreateCounter<long>("leases.shard.commands", description: "Changes submitted to shards");
        StateWrites = meter.CreateCounter<long>("leases.shard.state_writes", description: "Conditional shard state writes");
        CasConflicts = meter.CreateCounter<long>("leases.shard.cas_conflicts", description: "Shard state writes that lost to another writer");
        PartsWritten = meter.CreateCounter<long>("leases.parts.written", description: "Part blobs uploaded");
        PartsDeleted = meter.CreateCounter<long>("leases.parts.deleted", description: "Part blobs deleted");
    }

    public Counter<long> Commands { get; }
    public Counter<long> StateWrites { get; }
    public Counter<long> CasConflicts { get; }
    public Counter<long> PartsWritten { get; }
    public Counter<long> PartsDeleted { get; }
}
