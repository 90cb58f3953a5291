using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Leases.Readers;
using Orleans.Runtime;

namespace Orleans.Leases.Shards;

// Leased readers: the changes their lease grains ask for, and the sweep that ends lapsed leases.
internal sealed partial class ShardGrain
{
    /// <summary>When each reader's lease grain last sent a sync, durable or not: what tells a live keeper from a dead one.</summary>
    private readonly Dictionary<string, DateTimeOffset> _lastSyncs = [];

    /// <summary>The silos membership had declared dead at the last sweep (null before the first).</summary>
    private int? _deadSilos;

    public Task<ResumedReader?> ResumeReader(ReaderId reader) => Task.FromResult(
        _committed.StatusOf(reader.Validated()) is { } status ? new ResumedReader(status, _committed.Readers[reader.Value].SecretHash) : null);

    public Task<ReaderStatus> RegisterReader(ReaderId reader, LeaseSettings settings, GrainId client, string secretHash) =>
        Submit(new RegisterReader(reader.Validated(),
            LeaseSettings.Validated(settings), client,
            secretHash));

    public Task<ReaderStatus> SyncReader(ReaderId reader, Frontier since, ImmutableArray<ulong> returnedLeases, bool urgent)
    {
        var command = new SyncReader(reader.Validated(), since, returnedLeases.IsDefault ? [] : returnedLeases);
        _lastSyncs[reader.Value] = time.GetUtcNow(); // its keeper is alive, even while this heartbeat is held back
        return !urgent && _committed.Readers.TryGetValue(reader.Value, out var current)
            ? SubmitDeferred(command, current.HeartbeatAllowance(options.Value.HeartbeatWriteDelay))
            : Submit(command);
    }

    public Task<LeasedSnapshot?> LeaseSnapshot(ReaderId reader, Frontier since, ulong asOf) =>
        Submit(new LeaseSnapshot(reader.Validated(), since, asOf));

    public Task<LeasedSnapshot?> LeaseAfter(ReaderId reader, Frontier since, ulong after) =>
        Submit(new LeaseAfter(reader.Validated(), since, after));

    public async Task ExpireReader(ReaderId reader)
    {
        if (await Submit(new ExpireReader(reader.Validated())) is not null)
            metrics.Expiries.Add(1, new KeyValuePair<string, object?>("cause", "closed"));
    }

    public Task<ImmutableArray<ReaderId>> ReaderIds() => Task.FromResult(_committed.Readers.Keys.Select(r => new ReaderId(r)).ToImmutableArray());

    public Task<ReaderStatus?> ReaderStatus(ReaderId reader) => Task.FromResult(_committed.StatusOf(reader.Validated()));

    private void StartReaderSweep()
    {
        var period = options.Value.ReaderSweepInterval;
        this.RegisterGrainTimer(SweepReaders, new GrainTimerCreationOptions
        {
            DueTime = period,
            Period = period,
            Interleave = true,  // beside appends and syncs; the writer loop orders the change
            KeepAlive = false,  // an idle shard may go; its readers' syncs bring it back
        });
        WakeLeaseGrains(_committed.Readers.Keys);
    }

    /// <summary>Ends lapsed leases when no other change would, and wakes the lease grains that missed a heartbeat:
    /// their silo may have died, and a woken grain reactivates elsewhere from the durable holds and syncs at once.</summary>
    private async Task SweepReaders(CancellationToken cancellation)
    {
        var now = time.GetUtcNow();
        var readers = _committed.Readers;
        if (readers.AnyLapsed(now))
        {
            try
            {
                var expired = await Submit(new ExpireLapsedReaders());
                metrics.Expiries.Add(expired, new KeyValuePair<string, object?>("cause", "lapsed"));
                LogLapsed(logger, Id.Value, expired);
            }
            catch (ShardStorageException)
            {
                // Logged by the writer loop; the next sweep tries again, and the wakes below must still go out.
            }
        }
        MaybeStartMaintenance();
        foreach (var gone in _lastSyncs.Keys.Where(r => !readers.ContainsKey(r)).ToList()) _lastSyncs.Remove(gone);
        // A silo declared dead since the last sweep may have taken lease grains with it: wake them all now rather than
        // once their heartbeat is overdue (up to 1.5 intervals), so they are back within failure detection and one sweep.
        var dead = membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Dead);
        var siloDied = dead > (_deadSilos ?? dead);
        _deadSilos = dead;
        WakeLeaseGrains(readers.Where(r => !r.Value.IsLapsed(now) && (siloDied || r.Value.IsOverdue(now, _lastSyncs.GetValueOrDefault(r.Key))))
            .Select(r => r.Key));
    }

    private void WakeLeaseGrains(IEnumerable<string> readers)
    {
        foreach (var reader in readers) Wake(GrainFactory.GetGrain<IReaderLeaseTask>(ReaderLeaseKey.Format(Id, new ReaderId(reader)))).Ignore();
    }

    /// <summary>Wakes one lease grain, trying again a few times if the call fails: just after a silo died, the call
    /// may go to the dead activation's address until the grain directory has caught up. (A messaging retry, on the real
    /// clock, as Orleans' own.)</summary>
    private static async Task Wake(IReaderLeaseTask grain)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        for (var attempt = 1; ; attempt++, delay *= 2)
        {
            try
            {
                await grain.Wake();
                return;
            }
            catch (Exception error) when (error is OrleansException or TimeoutException && attempt < 4)
            {
                await Task.Delay(delay);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard}: expired {Count} lapsed reader leases")]
    private static partial void LogLapsed(ILogger logger, string shard, int count);
}
