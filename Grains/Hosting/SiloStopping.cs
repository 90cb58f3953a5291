using Orleans.Runtime;

namespace Orleans.Leases.Hosting;

/// <summary>
/// Fires when this silo begins to stop, before it deactivates its grains. A grain's deactivation waits for the calls
/// it is serving, so grains end the calls they hold open on purpose (waits for upper, held-back heartbeats, parked
/// appends) instead of stalling the stop behind them.
/// </summary>
public sealed class SiloStopping : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();

    public CancellationToken Token => _stopping.Token;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloStopping), ServiceLifecycleStage.Active, _ => Task.CompletedTask, _ => _stopping.CancelAsync());
}
