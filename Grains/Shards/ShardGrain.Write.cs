using Microsoft.Extensions.Logging;
using Orleans.Leases.Hosting;
using Orleans.Storage;

namespace Orleans.Leases.Shards;

// The writer loop: group commit of every pending command into one conditional write.
internal sealed partial class ShardGrain
{
    /// <summary>Conflicts tolerated in one cycle before its callers get an error.</summary>
    private const int MaxAttempts = 5;

    private BatchWorkerFromDelegate _writer = null!;
    private List<PendingCommand> _pending = [];

    /// <summary>Appends whose expected upper is ahead of the shard: a pipelined writer's later batches, waiting (up
    /// to <see cref="ShardServiceOptions.AppendAheadPatience"/>) for the earlier ones to land, so that they share their
    /// write instead of bouncing back as mismatches.</summary>
    private List<PendingCommand> _parked = [];

    /// <summary>Plain heartbeats held back (see <see cref="SubmitDeferred{T}"/>) until <see cref="_flushBy"/> or the
    /// next write, whichever comes first.</summary>
    private List<PendingCommand> _deferred = [];
    private DateTimeOffset? _flushBy;

    /// <summary>Held calls were released (see <see cref="HeldCalls"/>): the next cycle writes the held-back heartbeats
    /// and parks no append.</summary>
    private bool _released;

    /// <summary>The last state known durable. Every read is served from it, never from a write still in flight.</summary>
    private ShardState _committed = new();

    /// <summary>Set when the persisted state may differ from <see cref="_committed"/> (a lost race or a write in
    /// doubt); the next cycle reads it back before applying anything.</summary>
    private bool _mustReload;

    private long _commands, _stateWrites, _casConflicts, _partsDeleted;

    private Task<T> Submit<T>(ShardCommand command)
    {
        var pending = Count(new PendingCommand(command));
        _pending.Add(pending);
        _writer.Notify();
        return AnswerOf<T>(pending);
    }

    /// <summary>Submits a change nobody waits on urgently (a plain heartbeat): it rides the next write, or is written
    /// within <paramref name="allowance"/>. A shard's readers' heartbeats thus share about one write per interval.</summary>
    private Task<T> SubmitDeferred<T>(ShardCommand command, TimeSpan allowance)
    {
        if (allowance <= TimeSpan.Zero || held.Release.IsCancellationRequested) return Submit<T>(command);
        var pending = Count(new PendingCommand(command));
        _deferred.Add(pending);
        var flushBy = time.GetUtcNow() + allowance;
        if (_deferred.Count == 1 || flushBy < _flushBy) // the first of a window, or one in a hurrier reader's
        {
            _flushBy = flushBy;
            _ = WakeWriterAfter(allowance);
        }
        return AnswerOf<T>(pending);
    }

    private PendingCommand Count(PendingCommand pending)
    {
        _commands++;
        metrics.Commands.Add(1);
        return pending;
    }

    private static async Task<T> AnswerOf<T>(PendingCommand pending) => (T)(await pending.Answer.Task)!;

    /// <summary>Writes the held-back heartbeats now (a graceful deactivation: the next activation would not know them).</summary>
    private async Task FlushDeferred()
    {
        if (_deferred.Count == 0) return;
        _flushBy = DateTimeOffset.MinValue;
        await _writer.NotifyAndWaitForWorkToBeServiced();
    }

    private async Task WriteCycle()
    {
        var work = _pending.Concat(_parked);
        var untilFlush = _flushBy - time.GetUtcNow();
        var release = _released || held.Release.IsCancellationRequested;
        _released = false;
        if (_deferred.Count > 0 && (_pending.Count > 0 || untilFlush <= TimeSpan.Zero || release))
        {
            work = _deferred.Concat(work); // submitted before the rest
            _deferred = [];
            _flushBy = null;
        }
        else if (_deferred.Count > 0) _ = WakeWriterAfter(untilFlush!.Value); // woken early (timers round)
        // Appends in order of their expected upper, so that contiguous batches arriving together all fit.
        var batch = work.OrderBy(p => p.Command is AppendBatch a ? a.ExpectedUpper : Frontier.Minimum).ToList();
        _pending = [];
        _parked = [];
        if (batch.Count == 0) return;

        Outcome[] outcomes;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (_mustReload)
                {
                    await state.ReadStateAsync();
                    Commit(state.State);
                    _mustReload = false;
                }
                outcomes = await ApplyAndWrite(batch);
                break;
            }
            catch (InconsistentStateException) when (attempt < MaxAttempts)
            {
                // Another activation wrote first: read its state and apply our commands to it.
                _casConflicts++;
                metrics.CasConflicts.Add(1);
                _mustReload = true;
                LogConflict(logger, Id.Value, attempt);
            }
            catch (Exception error)
            {
                // In doubt: the write may have landed. Reload before the next cycle; the callers retry (appends are
                // idempotent by key).
                _mustReload = true;
                LogWriteFailed(logger, error, Id.Value, batch.Count);
                var failure = new ShardStorageException(Id.Value, error.Message);
                foreach (var pending in batch) pending.Answer.TrySetException(failure);
                return;
            }
        }

        var now = time.GetUtcNow();
        for (var i = 0; i < batch.Count; i++)
        {
            if (IsAheadOfUpper(outcomes[i], batch[i]) && !release
                && batch[i].ParkUntil(now, options.Value.AppendAheadPatience) is { } wait)
            {
                _parked.Add(batch[i]);
                _ = WakeWriterAfter(wait);
            }
            else batch[i].Complete(outcomes[i]);
        }
        ReleaseUpperWaiters();
        MaybeStartMaintenance();
    }

    /// <summary>Applies <paramref name="batch"/> in order to the committed state and writes the result once, if
    /// anything changed.</summary>
    private async Task<Outcome[]> ApplyAndWrite(List<PendingCommand> batch)
    {
        var (next, outcomes) = _committed.ApplyAll([.. batch.Select(p => p.Command)], time.GetUtcNow());
        if (ReferenceEquals(next, _committed)) return outcomes;

        state.State = next;
        await state.WriteStateAsync();
        Commit(next);
        _stateWrites++;
        metrics.StateWrites.Add(1);
        return outcomes;
    }

    private void Commit(ShardState durable)
    {
        metrics.StateChanged(_committed, durable);
        _committed = durable;
    }

    private static bool IsAheadOfUpper(Outcome outcome, PendingCommand pending) =>
        outcome is Outcome.Unchanged { Answer: AppendResult { Outcome: AppendOutcome.UpperMismatch } mismatch }
        && pending.Command is AppendBatch append && mismatch.Upper < append.ExpectedUpper;

    /// <summary>Runs the writer loop after <paramref name="wait"/>, or as soon as held calls are released.</summary>
    private async Task WakeWriterAfter(TimeSpan wait)
    {
        var release = held.Release;
        await Task.Delay(wait, time, release).ConfigureAwait(ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing);
        _released |= release.IsCancellationRequested;
        _writer.Notify();
    }

    private sealed record PendingCommand(ShardCommand Command)
    {
        private DateTimeOffset? _parkedUntil;

        public TaskCompletionSource<object?> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>How much longer this command may stay parked, or null when its patience is spent.</summary>
        public TimeSpan? ParkUntil(DateTimeOffset now, TimeSpan patience)
        {
            _parkedUntil ??= now + patience;
            return now < _parkedUntil ? _parkedUntil - now : null;
        }

        public void Complete(Outcome outcome)
        {
            switch (outcome)
            {
                case Outcome.Applied applied: Answer.TrySetResult(applied.Answer); break;
                case Outcome.Unchanged unchanged: Answer.TrySetResult(unchanged.Answer); break;
                case Outcome.Rejected rejected: Answer.TrySetException(rejected.Error); break;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: state changed behind this activation (attempt {Attempt}); reloading and re-applying")]
    private static partial void LogConflict(ILogger logger, string shard, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: state write failed; {Count} commands answered with a storage error")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string shard, int count);
}
