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
internal static class Transient
{
    /// <summary>True for errors a later attempt may not meet: the target silo or the gateway went away or was busy,
    /// or the answer did not come in time.</summary>
    public static bool IsTransient(Exception error) => error is SiloUnavailableException or ConnectionFailedException
        or OrleansMessageRejectionException or GatewayTooBusyException or TimeoutException;

    /// <summary>Calls <paramref name="call"/> until it succeeds, fails with a non-transient error, or the attempts of
    /// <paramref name="policy"/> (<see cref="RetryPolicy.Default"/> if null) run out (the last error is thrown).</summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken cancellation = default, RetryPolicy? policy = null)
    {
        policy ??= RetryPolicy.Default;
        var delay = policy.FirstDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception error) when (IsTransient(error) && attempt < policy.Attempts && !cancellation.IsCancellationRequested)
            {
                // Stretched by a random 0–50%: clients that lost the same silo do not retry in lockstep.
                await Task.Delay(delay * (1 + Random.Shared.NextDouble() / 2), cancellation);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, policy.MaxDelay.Ticks));
            }
        }
    }

    public static Task RetryAsync(Func<Task> call, CancellationToken cancellation = default, RetryPolicy? policy = null) =>
        RetryAsync(async () => { await call(); return true; }, cancellation, policy);

    /// <summary>Like <see cref="RetryAsync(Func{Task}, CancellationToken, RetryPolicy?)"/>, for a call that fails with
    /// <typeparamref name="TLanded"/> once it has taken effect: met on a retry, that error means an attempt whose answer
    /// was lost did the work.</summary>
    public static async Task RetryAsync<TLanded>(Func<Task> call, RetryPolicy? policy = null) where TLanded : Exception
    {
        var attempts = 0;
        try
        {
            await RetryAsync(() => { attempts++; return call(); }, default, policy);
        }
        catch (TLanded) when (attempts > 1)
        {
            // Done by an earlier attempt.
        }
    }
}

/// <summary>How <see cref="Transient"/> retries: <paramref name="Attempts"/> in all, waiting
/// <paramref name="FirstDelay"/> after the first failure and doubling up to <paramref name="MaxDelay"/>, each wait
/// stretched by a random 0–50%.</summary>
public sealed record RetryPolicy(int Attempts, TimeSpan FirstDelay, TimeSpan MaxDelay)
{
    /// <summary>20 attempts, 100 ms doubling to 2 s: 35–52 s in all, longer than membership takes to declare a crashed
    /// silo dead with its default probes (3 × 5 s).</summary>
    public static RetryPolicy Default { get; } = new(20, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));

    private static readonly TimeSpan LongestWait = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan ShortestWait = TimeSpan.FromMilliseconds(1);

    /// <summary>Refuses a policy that cannot run or cannot back off: no attempt, a first wait below 1 ms (doubling
    /// nothing stays nothing: retries would hammer a failing silo), a longest wait below the first or above 10 minutes.</summary>
    public RetryPolicy Validated()
    {
        if (Attempts < 1) throw new ArgumentOutOfRangeException(nameof(Attempts), Attempts, "at least one attempt");
        if (FirstDelay < ShortestWait || MaxDelay < FirstDelay || MaxDelay > LongestWait)
            throw new ArgumentOutOfRangeException(nameof(MaxDelay), MaxDelay, $"waits must be {ShortestWait} ≤ first ({FirstDelay}) ≤ longest ≤ {LongestWait}");
        return this;
    }
}
