using System.Collections.Immutable;
using Orleans.Concurrency;

namespace Orleans.Leases;

/// <summary>
/// One leased reader, keyed <c>{shard}/{reader}</c>. Keeps the reader's hold state and runs its background task: a
/// grain timer that heartbeats the lease and makes requested downgrades durable, so holds stay fresh while the
/// client is busy, blocked or gone. Use it through <see cref="ReadHandle"/>.
/// <para>Every verb carries the <see cref="ReaderSecret"/> the reader was opened with; any other value is refused with
/// <see cref="AccessDeniedException"/> and changes nothing.</para>
/// </summary>
[Alias("Leases.IReaderLeaseGrain")]
public interface IReaderLeaseGrain : IGrainWithStringKey
{
    /// <summary>Registers the reader at the shard: its since starts at the shard's since, its seqno hold at the
    /// shard's seqno. Opening an open reader with its secret answers its holds; with another secret it is refused.</summary>
    /// <para>The lease grain heartbeats only while <paramref name="client"/> answers its pings, so the holds of a
    /// reader whose client died are freed after the lease duration.</para>
    [Alias("Open")]
    Task<ReaderStatus> Open(ReaderSecret secret, LeaseSettings settings, IReaderClient client);

    /// <summary>Asks to move the reader's since hold forward. No storage I/O: the task makes it durable.</summary>
    [Alias("DowngradeSince")]
    Task DowngradeSince(ReaderSecret secret, Frontier since);

    /// <summary>Leases the parts of a snapshot as of <paramref name="asOf"/> (≥ the reader's since), or answers null
    /// while the shard's upper is ≤ asOf.</summary>
    [Alias("Snapshot")]
    Task<LeasedSnapshot?> Snapshot(ReaderSecret secret, ulong asOf);

    /// <summary>A listener's lease: the parts of the batches holding times after <paramref name="after"/> (≥ the
    /// reader's since) up to the shard's upper, whose AsOf is the last time it covers; or null while no time after
    /// <paramref name="after"/> is written.</summary>
    [Alias("LeaseAfter")]
    Task<LeasedSnapshot?> LeaseAfter(ReaderSecret secret, ulong after);

    /// <summary>Gives a snapshot's lease back. No storage I/O: the task makes it durable.</summary>
    [Alias("ReturnLease")]
    Task ReturnLease(ReaderSecret secret, ulong leaseId);

    /// <summary>Ends the lease: the reader is removed at the shard and every later call fails.</summary>
    [Alias("Expire")]
    Task Expire(ReaderSecret secret);

    /// <summary>What the lease grain holds and did; for operators, reveals nothing that lets a caller act.</summary>
    [AlwaysInterleave, Alias("Inspect")]
    Task<ReaderLeaseInfo> Inspect();
}

/// <summary>The client side of a reader, pinged by its lease grain before each heartbeat: a reader whose client is
/// gone stops heartbeating, and its lease lapses.</summary>
[Alias("Leases.IReaderClient")]
public interface IReaderClient : IGrainObserver
{
    /// <summary>Answers what the client still holds, so the lease grain can catch up with returns and downgrades it
    /// never heard of (its silo died after the client was answered) or leases whose answer never reached the client.</summary>
    [ResponseTimeout("00:00:02"), Alias("Ping")]
    Task<ClientHolds> Ping();
}

/// <summary>What a reader's client holds: the since it asked for last, the leases it has not given back, whether a
/// snapshot is being leased (its lease id not known to the client yet), and the hash of the secret it opened the reader
/// with — an observer vouches only for its own reader, so naming another client's observer keeps no lease alive.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ClientHolds")]
public sealed record ClientHolds(
    [property: Id(0)] Frontier Since,
    [property: Id(1)] ImmutableArray<ulong> Leases,
    [property: Id(2)] bool Leasing,
    [property: Id(3)] string SecretHash);
