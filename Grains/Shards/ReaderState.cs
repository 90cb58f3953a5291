using System.Collections.Immutable;

namespace Orleans.Leases.Shards;

/// <summary>A leased reader as the shard persists it (through <see cref="ReaderTableCodec"/>: a new property needs a
/// field there too, or it is lost at the next write).</summary>
internal sealed record ReaderState
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

    /// <summary>Hash of the <see cref="ReaderSecret"/> the reader was opened with: only its holder acts for the reader.</summary>
    public string? SecretHash { get; init; }

    /// <summary>This reader heartbeated at <paramref name="now"/>; a heartbeat time only moves forward.</summary>
    public ReaderState Heartbeat(DateTimeOffset now) => this with { LastHeartbeat = now > LastHeartbeat ? now : LastHeartbeat };

    /// <summary>The lease ends once <c>LastHeartbeat + LeaseDuration</c> has passed.</summary>
    public bool IsLapsed(DateTimeOffset now) => now > LapsesAt;

    public DateTimeOffset LapsesAt => LeaseSettings.LapsesAt(LastHeartbeat, LeaseDuration);

    /// <summary>How long the shard may hold this reader's heartbeat back to share a write: at most a heartbeat
    /// interval (about one write per interval however many readers), and at most half the slack between interval and
    /// lease, so the durable heartbeat is never older than <c>interval + allowance</c>, well inside the lease.</summary>
    public TimeSpan HeartbeatAllowance(TimeSpan limit) =>
        TimeSpan.FromTicks(Math.Max(0, Math.Min(limit.Ticks, Math.Min(HeartbeatInterval.Ticks, (LeaseDuration - HeartbeatInterval).Ticks / 2))));

    /// <summary>No sync from the lease grain for longer than its rhythm allows (one interval, and half an interval for a
    /// late tick), <paramref name="lastSync"/> being the last one the shard received: its silo may be gone. Early
    /// enough that a woken grain can reactivate elsewhere and sync well inside the lease.</summary>
    public bool IsOverdue(DateTimeOffset now, DateTimeOffset lastSync) =>
        now - (lastSync > LastHeartbeat ? lastSync : LastHeartbeat) > HeartbeatInterval * 1.5;
}
