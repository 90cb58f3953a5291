using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using Xunit.Abstractions;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Operations;

/// <summary>Two silo processes of their own: the crash below must not disturb other tests.</summary>
public sealed class CrashClusterFixture() : SiloProcessClusterFixture(2);

[CollectionDefinition(Name)]
public sealed class CrashCluster : ICollectionFixture<CrashClusterFixture>
{
    public const string Name = "crash cluster (silo processes)";
}

/// <summary>
/// A crash as in production, where the grain directory is Orleans' default: when a silo dies, each surviving silo
/// deactivates the activations whose directory entries the dead one kept, and a deactivation first waits for the calls
/// the grain is serving. (TestCluster's shared in-memory directory never does this, hence real processes.)
/// </summary>
[Collection(CrashCluster.Name)]
public sealed class SiloCrashTests(CrashClusterFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Calls_a_shard_holds_open_are_answered_when_another_silo_dies_so_the_shard_serves_on()
    {
        // Shards on both silos, so that some on the survivor had their directory entries on the one that dies. Each
        // shard is first called through one silo's gateway, alternately; placement only prefers the caller's silo, so
        // shards are added until each silo hosts enough of them.
        var gateways = await Task.WhenAll(fixture.SiloPorts.Select((_, i) => fixture.ClientThroughAsync(i)));
        var shards = new List<ShardId>();
        Dictionary<ShardId, SiloAddress> hosts = [];
        while (hosts.Values.GroupBy(h => h.Endpoint.Port).Count(g => g.Count() >= 6) < fixture.SiloPorts.Count)
        {
            Assert.True(shards.Count < 200, $"placement put {shards.Count} shards on fewer than two silos");
            var shard = ClusterFixture.NewShard($"crash-{shards.Count}");
            var through = gateways[shards.Count % gateways.Length].Services.GetRequiredService<IClusterClient>();
            await through.GetGrain<IShardGrain>(shard.Value).Inspect();
            shards.Add(shard);
            hosts = await HostsAsync(shards);
        }
        foreach (var gateway in gateways) { await gateway.StopAsync(); gateway.Dispose(); }
        foreach (var shard in shards) await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var victim = hosts.Values.First();
        var survivor = hosts.Values.First(h => h.Endpoint.Port != victim.Endpoint.Port);
        var onSurvivor = shards.Where(s => hosts[s].Endpoint.Port == survivor.Endpoint.Port).ToList();

        // A wait for upper far ahead: a call the shard holds open until it is released or the caller gives up. Sent
        // through the survivor's gateway: an answer on its way through the dead one would be lost with it.
        using var survivorClient = await fixture.ClientThroughAsync(fixture.SiloPorts.ToList().IndexOf(survivor.Endpoint.Port));
        var grains = survivorClient.Services.GetRequiredService<IClusterClient>();
        using var giveUp = new CancellationTokenSource();
        var waits = onSurvivor.ToDictionary(s => s, s => grains.GetGrain<IShardGrain>(s.Value).WaitForUpper(1_000, giveUp.Token));
        var clock = Stopwatch.StartNew();
        fixture.Silos[fixture.SiloPorts.ToList().IndexOf(victim.Endpoint.Port)].Crash();
        output.WriteLine($"killed {victim}; {onSurvivor.Count} of {shards.Count} shards on {survivor}");

        // Answered (not failed by the caller's response timeout): the shard's deactivation, if Orleans started one,
        // is not held up, and new calls are served instead of queueing behind it.
        foreach (var (shard, wait) in waits) Assert.Equal(F(1), await wait);
        output.WriteLine($"held waits answered {clock.Elapsed.TotalSeconds:F1} s after the kill");
        foreach (var shard in shards)
            Assert.Equal(AppendOutcome.Applied, (await new ShardClient(grains).Writer(shard).CompareAndAppendAsync([At(1, "b")], F(1), F(2))).Outcome);
        output.WriteLine($"every shard appended {clock.Elapsed.TotalSeconds:F1} s after the kill");
        await giveUp.CancelAsync();
    }

    private async Task<Dictionary<ShardId, SiloAddress>> HostsAsync(List<ShardId> shards)
    {
        var ids = shards.ToDictionary(s => fixture.Client.GetGrain<IShardGrain>(s.Value).GetGrainId(), s => s);
        var stats = await fixture.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        return stats.Where(s => ids.ContainsKey(s.GrainId)).ToDictionary(s => ids[s.GrainId], s => s.SiloAddress);
    }
}
