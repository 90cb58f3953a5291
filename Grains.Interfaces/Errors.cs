namespace Orleans.Leases;

// Typed errors, each named by what the caller must do about it. A rejected call changes nothing.

/// <summary>Base of every error the shard service answers on purpose.</summary>
[GenerateSerializer, Alias("Leases.ShardException")]
public abstract class ShardException : Exception
{
    public ShardException(string message) : base(message) { }

    protected ShardException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The input is wrong; retrying it unchanged fails the same way.</summary>
[GenerateSerializer, Alias("Leases.InvalidInputException")]
public class InvalidInputException(string message) : ShardException(message);

[GenerateSerializer, Alias("Leases.InvalidShardIdException")]
public sealed class InvalidShardIdException(string? shardId)
    : InvalidInputException($"Invalid shard id '{shardId}': use 1–{Identifier.MaxLength} characters of [A-Za-z0-9._-], not starting or ending with '.'.");

[GenerateSerializer, Alias("Leases.InvalidReaderIdException")]
public sealed class InvalidReaderIdException(string? readerId)
    : InvalidInputException($"Invalid reader id '{readerId}': use 1–{Identifier.MaxLength} characters of [A-Za-z0-9._-], not starting or ending with '.'.");

/// <summary>An append whose bounds or updates do not fit: newUpper ≤ expectedUpper, a time outside
/// [expectedUpper, newUpper), a missing idempotency key.</summary>
[GenerateSerializer, Alias("Leases.InvalidAppendException")]
public sealed class InvalidAppendException(string message) : InvalidInputException(message);

[GenerateSerializer, Alias("Leases.PayloadTooLargeException")]
public sealed class PayloadTooLargeException(long bytes, long limit)
    : InvalidInputException($"The batch is {bytes} bytes; the limit is {limit} bytes. Split it into smaller appends.")
{
    [Id(0)] public long Bytes { get; } = bytes;
    [Id(1)] public long Limit { get; } = limit;
}

/// <summary>A read as of a time the shard (or reader) may already have compacted.</summary>
[GenerateSerializer, Alias("Leases.AsOfBeforeSinceException")]
public sealed class AsOfBeforeSinceException(ulong asOf, Frontier since)
    : InvalidInputException($"as_of {asOf} is below since {since}: reads are exact only for as_of ≥ since.")
{
    [Id(0)] public ulong AsOf { get; } = asOf;
    [Id(1)] public Frontier Since { get; } = since;
}

/// <summary>The caller may not make this call: a reader's verbs come only from the client that opened it (holding its
/// <see cref="ReaderSecret"/>), the service's internal calls only from the grain that owns them. Nothing changed.</summary>
[GenerateSerializer, Alias("Leases.AccessDeniedException")]
public sealed class AccessDeniedException(string message) : ShardException(message);

/// <summary>A command that could not be applied to the shard's state (a value no check above caught). Only this
/// command is refused; the state and the other commands of its write are unaffected.</summary>
[GenerateSerializer, Alias("Leases.MalformedCommandException")]
public sealed class MalformedCommandException(string message) : InvalidInputException(message);

/// <summary>A part reference that is not one of the shard's own part blobs.</summary>
[GenerateSerializer, Alias("Leases.InvalidPartException")]
public sealed class InvalidPartException(string message) : InvalidInputException(message);

/// <summary>A frontier asked to move backwards; frontiers only advance.</summary>
[GenerateSerializer, Alias("Leases.FrontierRegressionException")]
public sealed class FrontierRegressionException(string what, Frontier current, Frontier requested)
    : InvalidInputException($"{what} cannot move from {current} back to {requested}.");

/// <summary>The shard's storage failed or could not be reached. A change that raised this is in doubt:
/// it may or may not have been applied; retry it (appends are idempotent by key).</summary>
[GenerateSerializer, Alias("Leases.ShardStorageException")]
public sealed class ShardStorageException(string shardId, string message)
    : ShardException($"Storage for shard '{shardId}' failed: {message}")
{
    [Id(0)] public string ShardId { get; } = shardId;
}

/// <summary>A part whose keys or values the reader's codec does not decode (written with another codec or type, or by
/// another application): the data is wrong for this reader, so a retry fails the same way. The codec's error is the
/// inner exception.</summary>
[GenerateSerializer, Alias("Leases.PartDecodeException")]
public sealed class PartDecodeException(string shardId, string partName, string what, Exception? innerException)
    : ShardException($"Part '{partName}' of shard '{shardId}' has a {what} the reader's codec does not decode: {innerException?.Message}", innerException)
{
    [Id(0)] public string ShardId { get; } = shardId;
    [Id(1)] public string PartName { get; } = partName;
}

/// <summary>The reader's lease has ended (closed, or lapsed without a heartbeat), or it was never opened. Its holds
/// are gone; open a new reader.</summary>
[GenerateSerializer, Alias("Leases.LeaseExpiredException")]
public sealed class LeaseExpiredException(string readerId, string why)
    : ShardException($"The lease of reader '{readerId}' has expired: {why}.")
{
    [Id(0)] public string ReaderId { get; } = readerId;
}

/// <summary>A lease duration or heartbeat interval out of range.</summary>
[GenerateSerializer, Alias("Leases.InvalidLeaseSettingsException")]
public sealed class InvalidLeaseSettingsException(string message) : InvalidInputException(message);

/// <summary>A returned lease that this reader does not hold: unknown, or returned already.</summary>
[GenerateSerializer, Alias("Leases.UnknownLeaseException")]
public sealed class UnknownLeaseException(ulong leaseId, string readerId)
    : InvalidInputException($"Reader '{readerId}' holds no lease {leaseId}: it is unknown or was returned already.")
{
    [Id(0)] public ulong LeaseId { get; } = leaseId;
}
