using System.CommandLine;
using Orleans.Leases;
using Orleans.Leases.ClientApp;

var root = new RootCommand("Orleans.Leases client: demo, inspection and benchmarks against a running silo.");

var demo = new Command("demo", "Append a few batches, read snapshots as of several times, print the shard's facts.");
demo.SetAction((_, cancellation) => Run(cancellation, (cluster, c) => Demo.RunAsync(cluster, c)));
root.Add(demo);

var shardArgument = new Argument<string>("shard") { Description = "The shard id." };
var json = new Option<bool>("--json") { Description = "Print JSON." };
var inspect = new Command("inspect", "Print a shard's seqno, since, upper, batches and part bytes.") { shardArgument, json };
inspect.SetAction((parse, cancellation) => Run(cancellation, (cluster, _) =>
    Inspect.RunAsync(cluster, parse.GetRequiredValue(shardArgument), parse.GetValue(json))));
root.Add(inspect);

var bench = new Command("bench", "Benchmarks against a running silo and its storage.");
var writers = new Option<int>("--writers") { Description = "Concurrent writers on one shard.", DefaultValueFactory = _ => 32 };
var seconds = new Option<int>("--seconds") { Description = "Seconds each measurement runs.", DefaultValueFactory = _ => 10 };
var append = new Command("append", "Append throughput and latency on one shard, beside the storage ceilings of the same run.")
    { writers, seconds, json };
append.SetAction((parse, cancellation) => Run(cancellation, (cluster, c) =>
    AppendBench.RunAsync(cluster, parse.GetValue(writers), parse.GetValue(seconds), parse.GetValue(json), c)));
bench.Add(append);
var leaseSeconds = new Option<double>("--lease-seconds") { Description = "Lease duration of the busy reader.", DefaultValueFactory = _ => 2 };
var busyReader = new Command("busy-reader", "A reader blocked in a snapshot for 5x its lease, in three lease designs side by side.")
    { leaseSeconds, json };
busyReader.SetAction((parse, cancellation) => Run(cancellation, (cluster, c) =>
    BusyReaderBench.RunAsync(cluster, parse.GetValue(leaseSeconds), parse.GetValue(json), c)));
bench.Add(busyReader);
root.Add(bench);

return await root.Parse(args).InvokeAsync();

static async Task<int> Run(CancellationToken cancellation, Func<Cluster, CancellationToken, Task<int>> work)
{
    try
    {
        await using var cluster = await Cluster.ConnectAsync(cancellation);
        return await work(cluster, cancellation);
    }
    catch (Exception error) when (error is ClusterUnreachableException or ShardException or ArgumentException)
    {
        Console.Error.WriteLine($"error: {error.Message}");
        return 1;
    }
}
