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

    /// <summary>Plain heartbeats held back (see <see cref="SubmitDeferred{TAnswer}"/>) until <see cref="_flushBy"/> or the
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

    private Task<TAnswer> Submit<TAnswer>(ShardCommand<TAnswer> command)
    {
        var pending = Count(new PendingCommand<TAnswer>(command));
        _pending.Add(pending);
        _writer.Notify();
        return pending.Answer;
    }

    /// <summary>Submits a change nobody waits on urgently (a plain heartbeat): it rides the next write, or is written
    /// within <paramref name="allowance"/>. A shard's readers' heartbeats thus share about one write per interval.</summary>
    private Task<TAnswer> SubmitDeferred<TAnswer>(ShardCommand<TAnswer> command, TimeSpan allowance)
    {
        if (allowance <= TimeSpan.Zero || held.Release.IsCancellationRequested) return Submit(command);
        var pending = Count(new PendingCommand<TAnswer>(command));
        _deferred.Add(pending);
        var flushBy = time.GetUtcNow() + allowance;
        if (_deferred.Count == 1 || flushBy < _flushBy) // the first of a window, or one in a hurrier reader's
        {
            _flushBy = flushBy;
            _ = WakeWriterAfter(allowance);
        }
        return pending.Answer;
    }

    private PendingCommand<TAnswer> Count<TAnswer>(PendingCommand<TAnswer> pending)
    {
        _commands++;
        metrics.Commands.Add(1);
        return pending;
    }

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
                await ApplyAndWrite(batch);
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
                foreach (var pending in batch) pending.Fail(failure);
                return;
            }
        }

        var now = time.GetUtcNow();
        for (var i = 0; i < batch.Count; i++)
        {
            if (IsAheadOfUpper(batch[i]) && !release
                && batch[i].ParkUntil(now, options.Value.AppendAheadPatience) is { } wait)
            {
                _parked.Add(batch[i]);
                _ = WakeWriterAfter(wait);
            }
            else batch[i].Complete();
        }
        ReleaseUpperWaiters();
        MaybeStartMaintenance();
    }

    /// <summary>Applies <paramref name="batch"/> in order to the committed state, each command to the state the
    /// previous left, and writes the result once, if anything changed.</summary>
    private async Task ApplyAndWrite(List<PendingCommand> batch)
    {
        var now = time.GetUtcNow();
        var next = batch.Aggregate(_committed, (state, pending) => pending.ApplyTo(state, now));
        if (ReferenceEquals(next, _committed)) return;

        state.State = next;
        await state.WriteStateAsync();
        Commit(next);
        _stateWrites++;
        metrics.StateWrites.Add(1);
    }

    private void Commit(ShardState durable)
    {
        metrics.StateChanged(_committed, durable);
        _committed = durable;
    }

    private static bool IsAheadOfUpper(PendingCommand pending) =>
        pending is PendingCommand<AppendResult>
        {
            Command: AppendBatch append,
            Outcome: Outcome<AppendResult>.Unchanged { Answer: { Outcome: AppendOutcome.UpperMismatch } mismatch },
        }
        && mismatch.Upper < append.ExpectedUpper;

    /// <summary>Runs the writer loop after <paramref name="wait"/>, or as soon as held calls are released.</summary>
    private async Task WakeWriterAfter(TimeSpan wait)
    {
        var release = held.Release;
        await Task.Delay(wait, time, release).ConfigureAwait(ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing);
        _released |= release.IsCancellationRequested;
        _writer.Notify();
    }

    /// <summary>A caller's command, waiting for the write that answers it. The writer loop holds commands of every
    /// answer type; each completes its own caller, with its own type.</summary>
    private abstract class PendingCommand
    {
        private DateTimeOffset? _parkedUntil;

        public abstract ShardCommand Command { get; }

        /// <summary>Applies the command to <paramref name="state"/> and keeps its outcome for <see cref="Complete"/>;
        /// answers the state after it.</summary>
        public abstract ShardState ApplyTo(ShardState state, DateTimeOffset now);

        /// <summary>Answers the caller with the outcome of the last <see cref="ApplyTo"/>, once it is durable.</summary>
        public abstract void Complete();

        /// <summary>Answers the caller with <paramref name="error"/>: the write failed or is in doubt.</summary>
        public abstract void Fail(Exception error);

        /// <summary>How much longer this command may stay parked, or null when its patience is spent.</summary>
        public TimeSpan? ParkUntil(DateTimeOffset now, TimeSpan patience)
        {
            _parkedUntil ??= now + patience;
            return now < _parkedUntil ? _parkedUntil - now : null;
        }
    }

    private sealed class PendingCommand<TAnswer>(ShardCommand<TAnswer> command) : PendingCommand
    {
        private readonly TaskCompletionSource<TAnswer> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override ShardCommand<TAnswer> Command => command;

        public Outcome<TAnswer>? Outcome { get; private set; }

        public Task<TAnswer> Answer => _answer.Task;

        public override ShardState ApplyTo(ShardState state, DateTimeOffset now)
        {
            Outcome = state.Apply(command, now);
            return Outcome is Outcome<TAnswer>.Applied applied ? applied.Next : state;
        }

        public override void Complete()
        {
            switch (Outcome)
            {
                case Outcome<TAnswer>.Applied applied: _answer.TrySetResult(applied.Answer); break;
                case Outcome<TAnswer>.Unchanged unchanged: _answer.TrySetResult(unchanged.Answer); break;
                case Outcome<TAnswer>.Rejected rejected: _answer.TrySetException(rejected.Error); break;
            }
        }

        public override void Fail(Exception error) => _answer.TrySetException(error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: state changed behind this activation (attempt {Attempt}); reloading and re-applying")]
    private static partial void LogConflict(ILogger logger, string shard, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: state write failed; {Count} commands answered with a storage error")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string shard, int count);
}
