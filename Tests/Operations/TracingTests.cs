using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Leases.Tests.Shards;
using Xunit.Abstractions;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Operations;

[Collection(InlineCluster.Name)]
public sealed class TracingTests(InlineClusterFixture fixture, ITestOutputHelper output)
{
    /// <summary>An append's and a leased snapshot's spans, each with the grain calls it made in its trace: the
    /// client's span, the part worker's, and the shard's calls it led to.</summary>
    [Fact]
    public async Task An_append_and_a_leased_snapshot_are_traced_across_grains()
    {
        var shard = ClusterFixture.NewShard("traced");
        var spans = new ConcurrentQueue<Activity>();
        using var listener = Record(spans, source => source.Name == LeasesTelemetry.ActivitySourceName
                                                     || source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));

        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        var leased = await reader.SnapshotAsync(0);

        var append = Assert.Single(spans, s => s.OperationName == "leases.append" && Shard(s) == shard.Value);
        var write = Assert.Single(spans, s => s.OperationName == "leases.append.write" && Shard(s) == shard.Value);
        Assert.Equal(append.TraceId, write.TraceId);
        Assert.Equal(true, write.GetTagItem("leases.inline"));
        Assert.Equal("Applied", append.GetTagItem("leases.outcome"));
        Assert.Contains(spans, s => s.TraceId == append.TraceId && Describes(s, "CompareAndAppend"));

        var snapshot = Assert.Single(spans, s => s.OperationName == "leases.snapshot" && Shard(s) == shard.Value);
        Assert.Equal(leased.LeaseId, snapshot.GetTagItem("leases.lease_id"));
        Assert.Contains(spans, s => s.TraceId == snapshot.TraceId && Describes(s, "LeaseSnapshot"));
        Assert.NotEqual(append.TraceId, snapshot.TraceId);

        foreach (var trace in new[] { append.TraceId, snapshot.TraceId })
            foreach (var span in spans.Where(s => s.TraceId == trace).OrderBy(s => s.StartTimeUtc))
                output.WriteLine($"{span.TraceId} {span.SpanId} parent {span.ParentSpanId} {span.Source.Name} {span.DisplayName} " +
                                 $"{span.Duration.TotalMilliseconds:F1} ms {string.Join(' ', span.TagObjects.Select(t => $"{t.Key}={t.Value}"))}");
    }

    /// <summary>Each sync's span is the parent of its shard call only: a sync that follows a held or failed one is not
    /// its child (else a lease's syncs would make one endless trace, each span keeping the one before alive).</summary>
    [Fact]
    public async Task A_leases_syncs_are_separate_spans_not_one_chain()
    {
        var shard = ClusterFixture.NewShard("traced-syncs");
        var spans = new ConcurrentQueue<Activity>();
        using var listener = Record(spans, source => source.Name == LeasesTelemetry.ActivitySourceName);

        // A heartbeat every 0.25 s, each held back by the shard: ticks arrive while the sync before is still held.
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, new LeaseSettings { LeaseDuration = TimeSpan.FromSeconds(1) });
        List<Activity> Syncs() => [.. spans.Where(s => s.OperationName == "leases.sync" && Shard(s) == shard.Value)];
        await Eventually.Async(() => Task.FromResult(Syncs()), syncs => syncs.Count >= 6, "too few syncs");

        var syncs = Syncs();
        var ids = syncs.Select(s => s.SpanId).ToHashSet();
        Assert.DoesNotContain(syncs, s => ids.Contains(s.ParentSpanId));
    }

    /// <summary>A client's snapshot records its duration, waits for the shard's upper included, and whether it
    /// waited: here it had to, as of a time the shard reaches only after the call began.</summary>
    [Fact]
    public async Task A_snapshots_duration_is_measured_with_its_wait()
    {
        var shard = ClusterFixture.NewShard("measured");
        var spans = new ConcurrentQueue<Activity>();
        using var tracing = Record(spans, source => source.Name == LeasesTelemetry.ActivitySourceName);
        var measured = new ConcurrentQueue<(double Seconds, object? Waited, object? Rounds)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == LeasesTelemetry.MeterName && instrument.Name == "leases.snapshot.duration" && instrument.Unit == "s")
                listener.EnableMeasurementEvents(instrument);
        };
        // Recorded inside the snapshot's span: its shard tells this test's measurement from others'.
        meters.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            if (Activity.Current is { OperationName: "leases.snapshot" } span && Shard(span) == shard.Value)
                measured.Enqueue((seconds, tags.ToArray().Single(t => t.Key == "leases.waited").Value, span.GetTagItem("leases.wait_rounds")));
        });
        meters.Start();

        await using var reader = await fixture.Shards.OpenReaderAsync(shard);
        var clock = Stopwatch.StartNew();
        var snapshot = reader.SnapshotAsync(0);
        await Task.Delay(200);
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await snapshot;

        var (seconds, waited, rounds) = Assert.Single(measured);
        Assert.InRange(seconds, 0.2, clock.Elapsed.TotalSeconds);
        Assert.Equal((int)rounds! > 0, waited);
    }

    /// <summary>Records every span of the sources <paramref name="listenTo"/> accepts into <paramref name="spans"/>
    /// once it stops, until the listener is disposed.</summary>
    private static ActivityListener Record(ConcurrentQueue<Activity> spans, Func<ActivitySource, bool> listenTo)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = listenTo,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private static string? Shard(Activity span) => span.GetTagItem("leases.shard") as string;

    /// <summary>True for a grain call's span naming <paramref name="method"/> (in its name or its rpc tags).</summary>
    private static bool Describes(Activity span, string method) =>
        span.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal)
        && (span.DisplayName.Contains(method) || span.TagObjects.Any(t => t.Value?.ToString()?.Contains(method) == true));
}
