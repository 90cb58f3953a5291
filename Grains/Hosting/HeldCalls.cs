using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Orleans.Leases.Hosting;

/// <summary>
/// Tells grains when to end the calls they hold open on purpose (waits for upper, held-back heartbeats, parked
/// appends). A deactivating activation first waits for the calls it is serving and queues every new one, so a held
/// call would stall the grain. Orleans deactivates grains when this silo begins to stop, and also on every other silo
/// when one leaves the cluster (crashed or stopping): the activations whose grain directory entries it kept.
/// </summary>
internal sealed partial class HeldCalls(IClusterMembershipService membership, ILogger<HeldCalls> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private CancellationTokenSource _release = new();

    /// <summary>Cancelled at the next release. A grain takes it when it begins to hold a call, and holds none while it
    /// is cancelled.</summary>
    public CancellationToken Release => Volatile.Read(ref _release).Token;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(HeldCalls), ServiceLifecycleStage.Active, Start, Stop);

    private Task Start(CancellationToken cancellation)
    {
        _ = WatchMembership();
        return Task.CompletedTask;
    }

    private async Task Stop(CancellationToken cancellation)
    {
        await _stopping.CancelAsync();
        await Volatile.Read(ref _release).CancelAsync(); // for good: WatchMembership replaces it no more
    }

    private async Task WatchMembership()
    {
        var leaving = Leaving(membership.CurrentSnapshot);
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(_stopping.Token))
            {
                var now = Leaving(snapshot);
                if (now.Except(leaving).FirstOrDefault() is { } silo)
                {
                    LogReleasing(logger, silo);
                    var released = Interlocked.Exchange(ref _release, new CancellationTokenSource());
                    await released.CancelAsync();
                    if (_stopping.IsCancellationRequested) await Volatile.Read(ref _release).CancelAsync();
                }
                leaving = now;
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private static HashSet<SiloAddress> Leaving(ClusterMembershipSnapshot snapshot) =>
        snapshot.Members.Values.Where(m => m.Status.IsTerminating()).Select(m => m.SiloAddress).ToHashSet();

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} is leaving the cluster: releasing held calls")]
    private static partial void LogReleasing(ILogger logger, SiloAddress silo);
}
