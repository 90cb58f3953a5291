namespace Orleans.Leases;

/// <summary>How a <see cref="ShardClient"/> rides out transient cluster errors (see <see cref="RetryPolicy"/>).</summary>
public sealed class ShardClientOptions
{
    public int RetryAttempts { get; set; } = RetryPolicy.Default.Attempts;

    public TimeSpan FirstRetryDelay { get; set; } = RetryPolicy.Default.FirstDelay;

    public TimeSpan MaxRetryDelay { get; set; } = RetryPolicy.Default.MaxDelay;

    /// <summary>The policy these settings make; refused (<see cref="ArgumentOutOfRangeException"/>) if it cannot run.</summary>
    public RetryPolicy Retry => new RetryPolicy(RetryAttempts, FirstRetryDelay, MaxRetryDelay).Validated();
}
