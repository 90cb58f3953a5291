using System.CommandLine;
using Orleans.Leases;
using Orleans.Leases.ClientApp;

var root = new RootCommand("Orleans.Leases client: demo, inspection, benchmarks and chaos scenarios against a running cluster.");

var demo = new Command("demo", "Append a few batches, read snapshots as of several times, print the shard's facts.");
demo.SetAction((_, cancellation) => Run(cancellation, (cluster, c) => Demo.RunAsync(cluster, c)));
root.Add(demo);

var shardArgument = new Argument<string>("shard") { Description = "The shard id." };
var json = new Option<bool>("--json") { Description = "Print JSON." };
var inspect = new Command("inspect", "Print a shard's seqno, since, upper, batches and part bytes.") { shardArgument, json };
inspect.SetAction((parse, cancellation) => Run(cancellation, (cluster, _) =>
    Inspect.RunAsync(cluster, parse.GetRequiredValue(shardArgument), parse.GetValue(json))));
root.Add(inspect);

var readers = new Command("readers", "List a shard's leased readers: holds, lag, leased snapshots, heartbeat, and the silo of each lease grain.")
    { shardArgument, json };
readers.SetAction((parse, cancellation) => Run(cancellation, (cluster, _) =>
    ReaderList.RunAsync(cluster, parse.GetRequiredValue(shardArgument), parse.GetValue(json))));
root.Add(readers);

var asOfOption = new Option<ulong?>("--as-of") { Description = "Subscribe: the snapshot as of this time first, then every later batch. Without it: batches written from now on." };
var listen = new Command("listen", "Follow a shard: print each batch's updates and the progress as they are written, until Ctrl-C.")
    { shardArgument, asOfOption, json };
listen.SetAction((parse, cancellation) => Run(cancellation, (cluster, c) =>
    Listen.RunAsync(cluster, parse.GetRequiredValue(shardArgument), parse.GetValue(asOfOption), parse.GetValue(json), c)));
root.Add(listen);

var bench = new Command("bench", "Benchmarks against a running silo and its storage (state: in memory).");
var writers = new Option<int>("--writers") { Description = "Concurrent writers on one shard (1–1024).", DefaultValueFactory = _ => 32 };
writers.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 1024) r.AddError("--writers must be 1–1024."); });
var seconds = new Option<int>("--seconds") { Description = "Seconds each measurement runs (1–3600).", DefaultValueFactory = _ => 10 };
seconds.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 3600) r.AddError("--seconds must be 1–3600."); });
var leaseSeconds = new Option<double>("--lease-seconds") { Description = "Lease duration of the busy reader (0.5–60).", DefaultValueFactory = _ => 2 };
leaseSeconds.Validators.Add(r => { if (r.GetValueOrDefault<double>() is < 0.5 or > 60) r.AddError("--lease-seconds must be 0.5–60."); });
var busyReader = new Command("busy-reader", "A reader blocked in a snapshot for 5x its lease while a writer appends: its holds, wakeups and retained storage.")
    { leaseSeconds, json };
busyReader.SetAction((parse, cancellation) => Run(cancellation, (cluster, c) =>
    BusyReaderBench.RunAsync(cluster, parse.GetValue(leaseSeconds), parse.GetValue(json), c)));
bench.Add(busyReader);
var churnSeconds = new Option<int>("--seconds") { Description = "Seconds of churn (1–3600).", DefaultValueFactory = _ => 20 };
churnSeconds.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 3600) r.AddError("--seconds must be 1–3600."); });
var churn = new Command("churn", "Readers come and go (some die without closing) while a writer appends; storage must stay bounded.")
    { churnSeconds, json };
churn.SetAction((parse, cancellation) => Run(cancellation, (cluster, c) =>
    ChurnBench.RunAsync(cluster, parse.GetValue(churnSeconds), parse.GetValue(json), c)));
bench.Add(churn);
var shardCount = new Option<int>("--shards") { Description = "Shards (1–100000).", DefaultValueFactory = _ => 1000 };
shardCount.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 100_000) r.AddError("--shards must be 1–100000."); });
var readersPerShard = new Option<int>("--readers-per-shard") { Description = "Leased readers per shard (1–10000).", DefaultValueFactory = _ => 100 };
readersPerShard.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 10_000) r.AddError("--readers-per-shard must be 1–10000."); });
var leaseLength = new Option<double>("--lease-seconds") { Description = "Lease duration (1–3600).", DefaultValueFactory = _ => 60 };
leaseLength.Validators.Add(r => { if (r.GetValueOrDefault<double>() is < 1 or > 3600) r.AddError("--lease-seconds must be 1–3600."); });
var heartbeatLength = new Option<double>("--heartbeat-seconds") { Description = "Heartbeat interval, below the lease (0.1–900).", DefaultValueFactory = _ => 15 };
heartbeatLength.Validators.Add(r => { if (r.GetValueOrDefault<double>() is < 0.1 or > 900) r.AddError("--heartbeat-seconds must be 0.1–900."); });
var intervals = new Option<int>("--intervals") { Description = "Heartbeat intervals measured (1–100).", DefaultValueFactory = _ => 4 };
intervals.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 100) r.AddError("--intervals must be 1–100."); });
var inProcess = new Option<bool>("--in-process") { Description = "Host the silo in this process (exact CPU, memory and tick lateness; no client hop)." };
var append = new Command("append", "Append throughput and latency on one shard, beside the storage ceilings of the same run.")
    { writers, seconds, inProcess, json };
append.SetAction((parse, cancellation) =>
{
    var settings = new AppendBench.Settings(parse.GetValue(writers), parse.GetValue(seconds), parse.GetValue(json));
    return parse.GetValue(inProcess)
        ? Guarded(() => AppendBench.RunInProcessAsync(settings, cancellation))
        : Run(cancellation, (cluster, c) => AppendBench.RunAsync(cluster.Shards, settings, c));
});
bench.Add(append);
var leases = new Command("leases", "Many live leases on one silo for several heartbeat intervals: leases kept, writes per shard, tick lateness, CPU, memory.")
    { shardCount, readersPerShard, leaseLength, heartbeatLength, intervals, inProcess, json };
leases.SetAction((parse, cancellation) =>
{
    var settings = new LeaseBench.Settings(parse.GetValue(shardCount), parse.GetValue(readersPerShard),
        TimeSpan.FromSeconds(parse.GetValue(leaseLength)), TimeSpan.FromSeconds(parse.GetValue(heartbeatLength)),
        parse.GetValue(intervals), parse.GetValue(json));
    return parse.GetValue(inProcess)
        ? Guarded(() => LeaseBench.RunInProcessAsync(settings, cancellation))
        : Run(cancellation, (cluster, c) => LeaseBench.RunAsync(cluster, settings, c));
});
bench.Add(leases);
var listenerCount = new Option<int>("--listeners") { Description = "Listeners following the shard (1–1024).", DefaultValueFactory = _ => 32 };
listenerCount.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 1024) r.AddError("--listeners must be 1–1024."); });
var listenSeconds = new Option<int>("--seconds") { Description = "Seconds the writer appends (1–3600).", DefaultValueFactory = _ => 30 };
listenSeconds.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 3600) r.AddError("--seconds must be 1–3600."); });
var listenLease = new Option<double>("--lease-seconds") { Description = "The listeners' lease duration (0.5–60); one stalls for 5x it.", DefaultValueFactory = _ => 2 };
listenLease.Validators.Add(r => { if (r.GetValueOrDefault<double>() is < 0.5 or > 60) r.AddError("--lease-seconds must be 0.5–60."); });
var listenBench = new Command("listen", "One writer appends small batches while N listeners follow the shard (one stalls for 5x its lease): latency, storage reads per part, holds, exactness.")
    { listenerCount, listenSeconds, listenLease, inProcess, json };
listenBench.SetAction((parse, cancellation) =>
{
    var settings = new ListenBench.Settings(parse.GetValue(listenerCount), parse.GetValue(listenSeconds),
        TimeSpan.FromSeconds(parse.GetValue(listenLease)), parse.GetValue(json));
    return parse.GetValue(inProcess)
        ? Guarded(() => ListenBench.RunInProcessAsync(settings, cancellation))
        : Run(cancellation, (cluster, c) => ListenBench.RunAsync(cluster, settings, c));
});
bench.Add(listenBench);
var stateBench = new Command("state", "Shard state bytes and serialize+deserialize CPU per write, JSON against binary, for 10–10,000 readers (in memory, no cluster).")
    { json };
stateBench.SetAction(parse => StateBench.Run(parse.GetValue(json)));
bench.Add(stateBench);
root.Add(bench);

var chaos = new Command("chaos", "Leases surviving cluster operations, against the silos ./run.sh --silos N supervises.");
var runDir = new Option<string>("--run-dir") { Description = "Where run.sh keeps silo-<i>.pid.", DefaultValueFactory = _ => ".run" };
var chaosLease = new Option<double>("--lease") { Description = "The readers' lease duration in seconds.", DefaultValueFactory = _ => 60 };
var chaosHeartbeat = new Option<double?>("--heartbeat") { Description = "The readers' heartbeat interval in seconds (default: a quarter of the lease)." };
foreach (var (name, kill, description) in new[]
{
    ("rolling-restart", false, "Restart every silo in turn (SIGTERM) while readers hold leases and a writer appends; print what broke."),
    ("kill", true, "Kill the silo of the readers' lease grains, then the shard's (SIGKILL), while readers hold leases and a writer appends; print what broke."),
})
{
    var operation = new Command(name, description) { runDir, chaosLease, chaosHeartbeat, json };
    operation.SetAction((parse, cancellation) => Guarded(() =>
    {
        var silos = Chaos.FindSilos(parse.GetValue(runDir)!); // before connecting: without pid files there is nothing to do
        var lease = new LeaseSettings
        {
            LeaseDuration = TimeSpan.FromSeconds(parse.GetValue(chaosLease)),
            HeartbeatInterval = parse.GetValue(chaosHeartbeat) is { } heartbeat ? TimeSpan.FromSeconds(heartbeat) : null,
            Purpose = "chaos",
        };
        return Run(cancellation, (cluster, c) => Chaos.RunAsync(cluster, kill, silos, lease, parse.GetValue(json), c));
    }));
    chaos.Add(operation);
}
root.Add(chaos);

return await root.Parse(args).InvokeAsync();

static Task<int> Run(CancellationToken cancellation, Func<Cluster, CancellationToken, Task<int>> work) => Guarded(async () =>
{
    await using var cluster = await Cluster.ConnectAsync(cancellation);
    return await work(cluster, cancellation);
});

static async Task<int> Guarded(Func<Task<int>> work)
{
    try
    {
        return await work();
    }
    // Cluster errors too (a silo or gateway lost mid-command, past the client's retries): one line, not a stack trace.
    catch (Exception error) when (error is ClusterUnreachableException or ShardException or ArgumentException
                                      or OrleansException or TimeoutException)
    {
        Console.Error.WriteLine($"error: {error.Message}");
        return 1;
    }
}
