using System.Collections.Immutable;

namespace Orleans.Leases;

/// <summary>How a reader's lease is kept.</summary>
[GenerateSerializer, Immutable, Alias("Leases.LeaseSettings")]
public sealed record LeaseSettings
{
    public static readonly TimeSpan MaxLeaseDuration = TimeSpan.FromDays(1);

    /// <summary>Below this a reader would cost its shard a write every few milliseconds.</summary>
    public static readonly TimeSpan MinHeartbeatInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>How long the reader's holds survive without a heartbeat. Default 60 s.</summary>
    [Id(0)] public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the lease grain heartbeats and makes requested downgrades durable; below the lease
    /// duration. Default: a quarter of it.</summary>
    [Id(1)] public TimeSpan? HeartbeatInterval { get; init; }

    /// <summary>What the reader is for, shown by inspection.</summary>
    [Id(2)] public string Purpose { get; init; } = "";

    public TimeSpan EffectiveHeartbeatInterval => HeartbeatInterval ?? LeaseDuration / 4;

    /// <summary>When a lease heartbeated last at <paramref name="lastHeartbeat"/> ends: it has lapsed at any time after.
    /// The one lapse rule of the shard, its reader table and the lease grain.</summary>
    internal static DateTimeOffset LapsesAt(DateTimeOffset lastHeartbeat, TimeSpan leaseDuration) => lastHeartbeat + leaseDuration;

    /// <summary>Throws <see cref="InvalidLeaseSettingsException"/> unless <paramref name="settings"/> are given and
    /// usable: what a grain checks of the settings a caller sent.</summary>
    internal static LeaseSettings Validated(LeaseSettings? settings) =>
        (settings ?? throw new InvalidLeaseSettingsException("Lease settings are required.")).Validated();

    /// <summary>Throws <see cref="InvalidLeaseSettingsException"/> unless the settings are usable.</summary>
    public LeaseSettings Validated()
    {
        if (LeaseDuration <= TimeSpan.Zero || LeaseDuration > MaxLeaseDuration)
            throw new InvalidLeaseSettingsException($"Lease duration {LeaseDuration} must be above zero and at most {MaxLeaseDuration}.");
        if (EffectiveHeartbeatInterval < MinHeartbeatInterval || EffectiveHeartbeatInterval >= LeaseDuration)
            throw new InvalidLeaseSettingsException(
                $"Heartbeat interval {EffectiveHeartbeatInterval} must be at least {MinHeartbeatInterval} and below the lease duration {LeaseDuration}.");
        if (Purpose is null || Purpose.Length > 256)
            throw new InvalidLeaseSettingsException("The purpose must be a string of at most 256 characters.");
        return this;
    }
}

/// <summary>A reader's holds as the shard has them durably, and the shard's facts at that write.</summary>
/// <param name="OthersSince">The meet of the other readers' sinces (empty when there are none): this reader's since
/// moves the shard's since only below it.</param>
[GenerateSerializer, Immutable, Alias("Leases.ReaderStatus")]
public sealed record ReaderStatus(
    [property: Id(0)] Frontier Since,
    [property: Id(1)] ulong SeqNoHold,
    [property: Id(2)] DateTimeOffset LastHeartbeat,
    [property: Id(3)] ImmutableSortedDictionary<ulong, ulong> Leases,
    [property: Id(4)] ulong ShardSeqNo,
    [property: Id(5)] Frontier ShardSince,
    [property: Id(6)] Frontier OthersSince,
    [property: Id(7)] LeaseSettings Settings,
    [property: Id(8)] GrainId? Client);

/// <summary>The parts of an exact snapshot as of <paramref name="AsOf"/>, leased: until the lease is returned (or the
/// reader expires) the reader's seqno hold stays at or below <paramref name="SeqNo"/>, so none of the parts is deleted.</summary>
[GenerateSerializer, Immutable, Alias("Leases.LeasedSnapshot")]
public sealed record LeasedSnapshot(
    [property: Id(0)] ulong LeaseId,
    [property: Id(1)] ulong SeqNo,
    [property: Id(2)] ulong AsOf,
    [property: Id(3)] ImmutableArray<PartRef> Parts);

/// <summary>A lease grain's view: what the client asked for, what is durable, and the work its task did.</summary>
[GenerateSerializer, Immutable, Alias("Leases.ReaderLeaseInfo")]
public sealed record ReaderLeaseInfo(
    [property: Id(0)] bool IsLive,
    [property: Id(1)] Frontier RequestedSince,
    [property: Id(2)] ReaderStatus? Durable,
    [property: Id(3)] int OutstandingLeases,
    [property: Id(4)] long Syncs,
    [property: Id(5)] long Wakeups,
    [property: Id(6)] long SinceDowngrades,
    [property: Id(7)] string Silo,
    [property: Id(8)] string Activation,
    [property: Id(9)] long ClientUnanswered,
    [property: Id(10)] long Heartbeats, // heartbeat-timer syncs that completed
    [property: Id(11)] long FailedSyncs); // syncs the shard or storage did not answer (each retried)
