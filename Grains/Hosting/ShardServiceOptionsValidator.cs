using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Orleans.Leases.Hosting;

/// <summary>Checks <see cref="ShardServiceOptions"/> when the silo starts; each failure names its setting as
/// configured (<c>Leases:Name</c>).</summary>
internal sealed partial class ShardServiceOptionsValidator : IValidateOptions<ShardServiceOptions>
{
    /// <summary>Held calls and heartbeats held back must end before Orleans' response timeout (30 s by default).</summary>
    private static readonly TimeSpan HeldCallLimit = TimeSpan.FromSeconds(30);

    /// <summary>Every state write carries the inline bytes: more than this makes each write slow.</summary>
    private const long InlineTotalLimit = 16 * 1024 * 1024;

    /// <summary>The part cache lives in the silo's memory: past this it is more likely a unit slip than a plan.</summary>
    private const long PartCacheLimit = 64L * 1024 * 1024 * 1024;

    public ValidateOptionsResult Validate(string? name, ShardServiceOptions o)
    {
        var failures = new List<string>();
        void Check(bool ok, string setting, string rule, object? value)
        {
            if (!ok) failures.Add($"{ShardServiceOptions.Section}:{setting} {rule}, not {value}");
        }

        Check(ContainerName().IsMatch(o.StateContainer ?? ""), nameof(o.StateContainer), "must be a blob container name (3–63 of a-z, 0-9, '-')", o.StateContainer);
        Check(ContainerName().IsMatch(o.PartsContainer ?? "") && o.PartsContainer != o.StateContainer, nameof(o.PartsContainer),
            "must be a blob container name other than the state container's", o.PartsContainer);
        Check(o.StorageServiceUri is null || o.StorageCredential is not null, nameof(o.StorageServiceUri),
            "needs a StorageCredential (set in code)", o.StorageServiceUri);
        Check(o.MaxBatchBytes > 0, nameof(o.MaxBatchBytes), "must be above 0", o.MaxBatchBytes);
        Check(o.InlineWritesTotalMaxBytes is >= 0 and <= InlineTotalLimit, nameof(o.InlineWritesTotalMaxBytes),
            $"must be 0–{InlineTotalLimit}", o.InlineWritesTotalMaxBytes);
        Check(o.InlineWriteMaxBytes >= 0 && o.InlineWriteMaxBytes <= Math.Min(o.MaxBatchBytes, o.InlineWritesTotalMaxBytes), nameof(o.InlineWriteMaxBytes),
            "must be 0 up to Leases:MaxBatchBytes and Leases:InlineWritesTotalMaxBytes", o.InlineWriteMaxBytes);
        Check(o.PartCacheBytes is >= 0 and <= PartCacheLimit, nameof(o.PartCacheBytes), $"must be 0–{PartCacheLimit}", o.PartCacheBytes);
        Check(o.AppendAheadPatience >= TimeSpan.Zero && o.AppendAheadPatience < HeldCallLimit, nameof(o.AppendAheadPatience),
            $"must be 0 up to below {HeldCallLimit.TotalSeconds} s (the response timeout)", o.AppendAheadPatience);
        Check(o.HeartbeatWriteDelay >= TimeSpan.Zero && o.HeartbeatWriteDelay < HeldCallLimit, nameof(o.HeartbeatWriteDelay),
            $"must be 0 up to below {HeldCallLimit.TotalSeconds} s (the response timeout)", o.HeartbeatWriteDelay);
        Check(o.ReaderSweepInterval > TimeSpan.Zero, nameof(o.ReaderSweepInterval), "must be above 0", o.ReaderSweepInterval);
        Check(o.CompactionFanout >= 2, nameof(o.CompactionFanout), "must be 2 or more", o.CompactionFanout);
        Check(o.CompactionMinBatches >= 0, nameof(o.CompactionMinBatches), "must be 0 or more", o.CompactionMinBatches);
        Check(o.OrphanScanInterval >= TimeSpan.Zero, nameof(o.OrphanScanInterval), "must be 0 or more", o.OrphanScanInterval);
        Check(o.OrphanMinAge >= TimeSpan.Zero, nameof(o.OrphanMinAge), "must be 0 or more", o.OrphanMinAge);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")]
    private static partial Regex ContainerName();
}
