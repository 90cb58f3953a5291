using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Orleans.Leases;

/// <summary>
/// Rides out a gateway or silo going away: repeats a call that failed with a transient cluster error. Only for calls
/// that are safe to repeat — a repeat whose first attempt landed must change nothing more.
/// </summary>
/// <remarks>The lease lives in the cluster, not in the client: while these retries run, the lease grain keeps
/// heartbeating (reactivated on another silo from the shard's durable holds if its silo went), and the Orleans client
/// reconnects through the other gateways it knows.</remarks>
public static class Transient
{
    /// <summary>Attempts before the error is the caller's: backoff 100 ms doubling to 2 s, each wait stretched by a
    /// random 0–50% so that clients that lost the same silo do not retry in lockstep; 35–52 s in all, longer than
    /// membership takes to declare a crashed silo dead with its default probes (3 × 5 s).</summary>
    public const int Attempts = 20;

    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);

    /// <summary>True for errors a later attempt may not meet: the target silo or the gateway went away or was busy,
    /// or the answer did not come in time.</summary>
    public static bool IsTransient(Exception error) => error is SiloUnavailableException or ConnectionFailedException
        or OrleansMessageRejectionException or GatewayTooBusyException or TimeoutException;

    /// <summary>Calls <paramref name="call"/> until it succeeds, fails with a non-transient error, or
    /// <see cref="Attempts"/> run out (the last error is thrown).</summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken cancellation = default)
    {
        var delay = FirstDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception error) when (IsTransient(error) && attempt < Attempts && !cancellation.IsCancellationRequested)
            {
                await Task.Delay(delay * (1 + Random.Shared.NextDouble() / 2), cancellation);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }

    public static Task RetryAsync(Func<Task> call, CancellationToken cancellation = default) =>
        RetryAsync(async () => { await call(); return true; }, cancellation);

    /// <summary>Like <see cref="RetryAsync(Func{Task}, CancellationToken)"/>, for a call that fails with
    /// <typeparamref name="TLanded"/> once it has taken effect: met on a retry, that error means an attempt whose answer
    /// was lost did the work.</summary>
    public static async Task RetryAsync<TLanded>(Func<Task> call) where TLanded : Exception
    {
        var attempts = 0;
        try
        {
            await RetryAsync(() => { attempts++; return call(); });
        }
        catch (TLanded) when (attempts > 1)
        {
            // Done by an earlier attempt.
        }
    }
}
