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
    /// <para>The lease grain heartbeats only while <paramref name="client"/> answers its pings, so the holds of a
    /// reader whose client died are freed after the lease duration.</para>
    [Alias("Open")]
    Task<ReaderStatus> Open(LeaseSettings settings, IReaderClient client);

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

/// <summary>The client side of a reader, pinged by its lease grain before each heartbeat: a reader whose client is
/// gone stops heartbeating, and its lease lapses.</summary>
[Alias("Leases.IReaderClient")]
public interface IReaderClient : IGrainObserver
{
    [ResponseTimeout("00:00:02"), Alias("Ping")]
    Task Ping();
}
