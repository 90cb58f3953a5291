namespace Orleans.Leases.Hosting;

/// <summary>Settings of the shard service (configuration section <see cref="Section"/>).</summary>
public sealed class ShardServiceOptions
{
    public const string Section = "Leases";

    /// <summary>Azure Storage connection string; the default is the local Azurite development account. Not used when
    /// <see cref="StorageServiceUri"/> is set.</summary>
    public string StorageConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>The blob service endpoint (<c>https://ACCOUNT.blob.core.windows.net</c>), reached with
    /// <see cref="StorageCredential"/>: how Azure is run without keys.</summary>
    public Uri? StorageServiceUri { get; set; }

    /// <summary>The credential for <see cref="StorageServiceUri"/> (for example Azure.Identity's
    /// <c>DefaultAzureCredential</c>); set in code.</summary>
    public Azure.Core.TokenCredential? StorageCredential { get; set; }

    /// <summary>Blob container of the shard state blobs (one per shard).</summary>
    public string StateContainer { get; set; } = "shard-state";

    /// <summary>Blob container of the part blobs.</summary>
    public string PartsContainer { get; set; } = "shard-parts";

    /// <summary>Largest batch accepted by one append, in bytes of its stored part.</summary>
    public long MaxBatchBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>A batch whose part would be at most this many bytes is kept in the shard's state (no part blob, so an
    /// append costs one state write); 4096 is a good value. Zero (the default) stores every batch as a part: a silo or
    /// client of a version before inline batches drops their updates, so turn this on only once every silo and client
    /// of the cluster runs this version.</summary>
    public long InlineWriteMaxBytes { get; set; }

    /// <summary>Most bytes of inline batches a shard holds (every state write carries them); past half of it,
    /// compaction moves them out to a part, and at it, appends are stored as parts.</summary>
    public long InlineWritesTotalMaxBytes { get; set; } = 256 * 1024;

    /// <summary>Most bytes of recently read parts a silo keeps, decoded, to answer reads of them again without storage
    /// (counted as stored: decoded updates take a few times that in memory); least recently used go first. Zero turns
    /// the cache off.</summary>
    public long PartCacheBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>How long an append whose expected upper is ahead of the shard waits for the shard to reach it
    /// (pipelined writers), before it answers the mismatch.</summary>
    public TimeSpan AppendAheadPatience { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a shard expires lapsed readers when nothing else changes it, and wakes the lease grains of
    /// readers whose heartbeat is overdue (their silo may have died).</summary>
    public TimeSpan ReaderSweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest a shard holds a plain heartbeat back so that its readers' heartbeats share one write (also capped
    /// per reader: see <c>ReaderState.HeartbeatAllowance</c>). Below the 30 s response timeout. Zero writes each at once.</summary>
    public TimeSpan HeartbeatWriteDelay { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Compaction keeps each batch larger than (this − 1)× all newer batches together, merging the oldest
    /// batch that is not with every newer one (see <c>CompactionPolicy</c>); 2 or more.</summary>
    public int CompactionFanout { get; set; } = 2;

    /// <summary>Compaction waits until the shard has this many batches; <see cref="int.MaxValue"/> turns it off.</summary>
    public int CompactionMinBatches { get; set; } = 32;

    /// <summary>How often a shard lists its part blobs to delete orphans (parts of appends that never landed).</summary>
    public TimeSpan OrphanScanInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An unreferenced part younger than this may belong to an append still in flight; it is left alone.</summary>
    public TimeSpan OrphanMinAge { get; set; } = TimeSpan.FromHours(1);
}
