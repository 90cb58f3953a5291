using Orleans.Concurrency;

namespace Orleans.Leases;

/// <summary>
/// One leased reader, keyed <c>{shard}/{reader}</c>. Keeps the reader's hold state and runs its background task: a
/// grain timer that heartbeats the lease and makes requested downgrades durable, so holds stay fresh while the
/// client is busy, blocked or gone. Use it through <see cref="ReadHandle"/>.
/// </summary>
[Alias("Leases.IReaderLeaseGrain")]
public interface IReaderLeaseGrain : IGrainWithStringKey
{
    /// <summary>Registers the reader at the shard: its since starts at the shard's since, its seqno hold at the
    /// shard's seqno.</summary>
    [Alias("Open")]
    Task<ReaderStatus> Open(LeaseSettings settings);

    /// <summary>Asks to move the reader's since hold forward. No storage I/O: the task makes it durable.</summary>
    [Alias("DowngradeSince")]
    Task DowngradeSince(Frontier since);

    /// <summary>Leases the parts of a snapshot as of <paramref name="asOf"/> (≥ the reader's since), or answers null
    /// while the shard's upper is ≤ asOf.</summary>
    [Alias("Snapshot")]
    Task<LeasedSnapshot?> Snapshot(ulong asOf);

    /// <summary>Gives a snapshot's lease back. No storage I/O: the task makes it durable.</summary>
    [Alias("ReturnLease")]
    Task ReturnLease(ulong leaseId);

    /// <summary>Ends the lease: the reader is removed at the shard and every later call fails.</summary>
    [Alias("Expire")]
    Task Expire();

    [AlwaysInterleave, Alias("Inspect")]
    Task<ReaderLeaseInfo> Inspect();

    /// <summary>Wakes the grain (reactivating it with the durable state if its silo died); sent by the shard.</summary>
    [OneWay, Alias("Wake")]
    Task Wake();
}
