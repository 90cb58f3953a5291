using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Leases.Hosting;
using Orleans.Leases.Parts;
using Orleans.Placement;
using Orleans.Runtime;

namespace Orleans.Leases.Shards;

/// <summary>
/// The single writer of one shard's persisted state. Calls interleave; each change goes through one writer loop
/// (<see cref="WriteCycle"/>) that applies everything pending and makes one ETag-guarded write.
/// </summary>
// Moving it buys nothing (the next activation reloads the state) and a stalled move stalls the shard.
[GrainType("leases.shard")]
[Immovable]
internal sealed partial class ShardGrain(
    [PersistentState("shard", ShardStorage.Name)] IPersistentState<ShardState> state,
    TimeProvider time,
    IOptions<ShardServiceOptions> options,
    ServiceMetrics metrics,
    HeldCalls held,
    Callers callers,
    IClusterMembershipService membership,
    ILogger<ShardGrain> logger) : Grain, IShardGrain, IShardReaders, IShardAppends, IShardMaintenance, IIncomingGrainCallFilter
{
    private readonly List<UpperWaiter> _upperWaiters = [];

    private ShardId Id => new(this.GetPrimaryKeyString());

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await FlushDeferred().WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Out of time: the held-back heartbeats are lost, which only makes their durable heartbeats older.
        }
        Commit(new ShardState()); // this activation no longer reports the shard's bytes
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ = Id; // a malformed key fails the activation with InvalidShardIdException
        Commit(state.State);
        _lastOrphanScan = time.GetUtcNow();
        _writer = new BatchWorkerFromDelegate(WriteCycle);
        StartReaderSweep();
        return Task.CompletedTask;
    }

    /// <summary>Accepts each internal call only from the grain that owns it (S8).</summary>
    public Task Invoke(IIncomingGrainCallContext call) => Callers.InvokeAfter(Check(call), call);

    private Task Check(IIncomingGrainCallContext call)
    {
        if (Callers.IsCallTo<IShardReaders>(call))
        {
            var reader = call.Request.GetArgument(0) is ReaderId { Value: { } id } ? id : "";
            return callers.RequireAsync(call, GrainFactory.GetGrain<IReaderLeaseGrain>($"{Id.Value}/{reader}").GetGrainId(),
                $"the lease grain of reader '{reader}'");
        }
        if (Callers.IsCallTo<IShardAppends>(call))
            return callers.RequireTypeAsync(call, GrainFactory.GetGrain<IPartWorkerGrain>(0).GetGrainId().Type, "a part worker");
        if (Callers.IsCallTo<IShardMaintenance>(call))
            return callers.RequireAsync(call, GrainFactory.GetGrain<ICompactorGrain>(Id.Value).GetGrainId(), "the shard's compactor");
        return Task.CompletedTask;
    }

    public Task<AppendResult> CompareAndAppend(Batch batch, Frontier expectedUpper)
    {
        PartStore.CheckPartsOf(Id, batch?.Parts ?? []);
        return Submit(new AppendBatch(batch!, expectedUpper, options.Value.InlineWritesTotalMaxBytes));
    }

    public async Task<Frontier> WaitForUpper(ulong asOf, CancellationToken cancellation)
    {
        var release = held.Release;
        if (!_committed.Upper.Contains(asOf) || release.IsCancellationRequested) return _committed.Upper;
        var waiter = new UpperWaiter(asOf);
        _upperWaiters.Add(waiter);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation, release);
        try
        {
            await waiter.Reached.Task.WaitAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // Held calls are released (see HeldCalls): answer now; the caller asks again.
        }
        finally
        {
            _upperWaiters.Remove(waiter);
        }
        return _committed.Upper;
    }

    public Task<ShardInfo> Inspect()
    {
        var s = _committed;
        return Task.FromResult(new ShardInfo(s.SeqNo, s.Since, s.Upper, s.Batches.Count, s.Batches.Sum(b => b.Parts.Length),
            s.LiveBytes, s.Readers.Count, new ShardCounters(_commands, _stateWrites, _casConflicts, _partsDeleted), s.SeqNoSince,
            s.Retired.Count, s.RetiredBytes, s.InlineBytes));
    }

    /// <summary>Wakes the snapshots waiting for upper to pass their as-of.</summary>
    private void ReleaseUpperWaiters()
    {
        foreach (var waiter in _upperWaiters)
            if (!_committed.Upper.Contains(waiter.AsOf)) waiter.Reached.TrySetResult();
    }

    private sealed record UpperWaiter(ulong AsOf)
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
