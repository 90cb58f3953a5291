using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>A leased reader as the shard persists it.</summary>
public sealed record ReaderState
{
    /// <summary>This reader's since hold. Only advances; never below the shard's since.</summary>
    public Frontier Since { get; init; }

    /// <summary>The lowest state version this reader may read from. Only advances; at most the lowest seqno of
    /// <see cref="Leases"/>, and at most the shard's seqno.</summary>
    public ulong SeqNoHold { get; init; }

    public DateTimeOffset LastHeartbeat { get; init; }

    public TimeSpan LeaseDuration { get; init; }

    public TimeSpan HeartbeatInterval { get; init; }

    public string Purpose { get; init; } = "";

    /// <summary>Outstanding leased snapshots: lease id → seqno of the state the parts came from.</summary>
    public ImmutableSortedDictionary<ulong, ulong> Leases { get; init; } = ImmutableSortedDictionary<ulong, ulong>.Empty;

    public ulong NextLeaseId { get; init; } = 1;

    /// <summary>The reader's client observer (<see cref="IReaderClient"/>), so a lease grain that reactivates on
    /// another silo can still tell whether the client is alive.</summary>
    public string? Client { get; init; }

    /// <summary>The lease ends once <c>LastHeartbeat + LeaseDuration</c> has passed.</summary>
    public bool IsLapsed(DateTimeOffset now) => now > LastHeartbeat + LeaseDuration;
}
