using System.Diagnostics.Metrics;
using Orleans.Leases.Shards;

namespace Orleans.Leases.Hosting;

/// <summary>The silo's instruments, under the meter <see cref="LeasesTelemetry.MeterName"/>.</summary>
internal sealed class ServiceMetrics
{
    public ServiceMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(LeasesTelemetry.MeterName);
        Commands = meter.CreateCounter<long>("leases.shard.commands", "{command}", "Changes submitted to shards");
        StateWrites = meter.CreateCounter<long>("leases.shard.state_writes", "{write}", "Conditional shard state writes");
        CasConflicts = meter.CreateCounter<long>("leases.shard.cas_conflicts", "{conflict}", "Shard state writes that lost to another writer");
        PartsWritten = meter.CreateCounter<long>("leases.parts.written", "{part}", "Part blobs uploaded");
        PartsDeleted = meter.CreateCounter<long>("leases.parts.deleted", "{part}", "Part blobs deleted");
        PartReads = meter.CreateCounter<long>("leases.parts.reads", "{read}", "Part blobs read from storage");
        PartCacheHits = meter.CreateCounter<long>("leases.parts.cache_hits", "{read}", "Part reads answered by the silo's part cache, or by a read of it in flight");
        Heartbeats = meter.CreateCounter<long>("leases.reader.heartbeats", "{heartbeat}", "Heartbeat ticks of lease grains' timers");
        HeartbeatLateness = meter.CreateHistogram<double>("leases.reader.heartbeat_lateness", "s", "How late a heartbeat tick came, against its interval");
        SeqNoLag = meter.CreateHistogram<long>("leases.reader.seqno_lag", "{seqno}", "Shard seqno minus the reader's seqno hold, at each sync");
        Syncs = meter.CreateCounter<long>("leases.reader.syncs", "{sync}", "Lease syncs (heartbeat + downgrades) sent to shards");
        Wakeups = meter.CreateCounter<long>("leases.reader.wakeups", "{wakeup}", "Early syncs requested by a downgrade or a returned lease");
        SinceDowngrades = meter.CreateCounter<long>("leases.reader.since_downgrades", "{downgrade}", "Since downgrades asked by clients");
        Expiries = meter.CreateCounter<long>("leases.reader.expiries", "{lease}", "Reader leases ended, by cause");
        LiveLeases = meter.CreateUpDownCounter<long>("leases.reader.live", "{lease}", "Live reader leases held by lease grains");
        LiveBytes = meter.CreateUpDownCounter<long>("leases.shard.live_bytes", "By", "Bytes of the parts shards' batches name");
        RetiredBytes = meter.CreateUpDownCounter<long>("leases.shard.retired_bytes", "By", "Bytes of retired parts not yet deleted");
        RetainedSeqNos = meter.CreateUpDownCounter<long>("leases.shard.retained_seqnos", "{seqno}", "Sum over shards of seqno − seqno_since");
        AppendDuration = meter.CreateHistogram<double>("leases.append.duration", "s", "An append at its part worker: validation, part upload if stored, the shard's write",
            advice: LeasesTelemetry.LatencyBuckets);
        SyncDuration = meter.CreateHistogram<double>("leases.reader.sync.duration", "s", "A lease sync from its call to the shard's answer (a plain heartbeat's includes the time the shard held it back)",
            advice: LeasesTelemetry.LatencyBuckets);
        SinceLag = meter.CreateUpDownCounter<long>("leases.shard.since_lag", "{time}", "Sum over shards of upper − since: times kept uncompacted for readers");
    }

    /// <summary>Moves the shard gauges by the difference between two committed states of one shard.</summary>
    public void StateChanged(ShardState before, ShardState after)
    {
        LiveBytes.Add(after.LiveBytes - before.LiveBytes);
        RetiredBytes.Add(after.RetiredBytes - before.RetiredBytes);
        RetainedSeqNos.Add((long)(after.SeqNo - after.SeqNoSince) - (long)(before.SeqNo - before.SeqNoSince));
        SinceLag.Add(SinceLagOf(after) - SinceLagOf(before));
    }

    private static long SinceLagOf(ShardState s) =>
        s.Upper.IsEmpty || s.Since.IsEmpty || s.Upper <= s.Since ? 0 : (long)(s.Upper.Time - s.Since.Time);

    public Histogram<double> AppendDuration { get; }
    public Histogram<double> SyncDuration { get; }
    public Counter<long> Commands { get; }
    public Counter<long> StateWrites { get; }
    public Counter<long> CasConflicts { get; }
    public Counter<long> PartsWritten { get; }
    public Counter<long> PartsDeleted { get; }
    public Counter<long> PartReads { get; }
    public Counter<long> PartCacheHits { get; }
    public Counter<long> Heartbeats { get; }
    public Histogram<double> HeartbeatLateness { get; }
    public Histogram<long> SeqNoLag { get; }
    public Counter<long> Syncs { get; }
    public Counter<long> Wakeups { get; }
    public Counter<long> SinceDowngrades { get; }
    public Counter<long> Expiries { get; }
    public UpDownCounter<long> LiveLeases { get; }
    public UpDownCounter<long> LiveBytes { get; }
    public UpDownCounter<long> RetiredBytes { get; }
    public UpDownCounter<long> RetainedSeqNos { get; }
    public UpDownCounter<long> SinceLag { get; }
}
