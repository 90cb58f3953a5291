using System.Collections.Concurrent;
using Orleans.Hosting;
using Orleans.Leases.Hosting;
using Orleans.Leases.Readers;
using Orleans.Leases.Shards;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Security;

/// <summary>A call proof never reaches a client: it is an HMAC over target, method and sender only, so whoever reads one
/// can replay it.</summary>
[Collection(LeaseCluster.Name)]
public sealed class ProofLeakTests(LeaseClusterFixture fixture)
{
    /// <summary>A client observer that records the call proof, if any, in the request context of each ping.</summary>
    private sealed class Spy(string secretHash) : IReaderClient
    {
        public readonly ConcurrentQueue<string?> Seen = new();

        public Task<ClientHolds> Ping()
        {
            Seen.Enqueue(RequestContext.Get(Callers.ProofKey) as string);
            return Task.FromResult(new ClientHolds(Frontier.Minimum, [], false, secretHash));
        }
    }

    [Fact]
    public async Task A_lease_grain_woken_by_its_shard_does_not_hand_the_wake_proof_to_its_client()
    {
        var shard = ClusterFixture.NewShard("proof-leak");
        var reader = ReaderId.NewId();
        var secret = ReaderSecret.New();
        var spy = new Spy(secret.Hash());
        var observer = fixture.Client.CreateObjectReference<IReaderClient>(spy);
        var lease = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader));
        var shardGrain = fixture.Client.GetGrain<IShardGrain>(shard.Value);
        await lease.Open(secret, fixture.Settings, observer);

        // The lease grain and its shard go (as after a restart); a client's read brings the shard back, and the shard
        // wakes its readers' lease grains (IReaderLeaseTask.Wake, signed). The Wake activates the lease grain, and
        // Orleans runs OnActivateAsync with the Wake's request context imported (ActivationData: Import(requestContextData)).
        await fixture.Cluster.DeactivateAsync(lease);
        await fixture.Cluster.DeactivateAsync(shardGrain);
        Assert.DoesNotContain(spy.Seen, p => p is not null);
        await shardGrain.Inspect();
        await Eventually.Async(() => Task.FromResult(spy.Seen.Count), n => n > 0, "the woken lease grain never pinged its client");

        // The first ping after the wake is the one that ran in the Wake's request context.
        Assert.All(spy.Seen, proof => Assert.Null(proof));
    }
}

/// <summary>A host's own outgoing filter after the service's, that awaits before it calls the next stage: the proof the
/// signing filter set (and removed from its own flow once the call was under way) is still on the message.</summary>
public sealed class YieldingFilterFixture : LeaseClusterFixture
{
    public static int Calls;

    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        base.ConfigureSilo(silo);
        silo.AddOutgoingGrainCallFilter(async call =>
        {
            Interlocked.Increment(ref Calls);
            await Task.Yield();
            await Task.Delay(1);
            await call.Invoke();
        });
    }
}

[CollectionDefinition(Name)]
public sealed class YieldingFilterCluster : ICollectionFixture<YieldingFilterFixture>
{
    public const string Name = "yielding filter cluster";
}

[Collection(YieldingFilterCluster.Name)]
public sealed class YieldingFilterTests(YieldingFilterFixture fixture)
{
    [Fact]
    public async Task Internal_calls_pass_when_a_later_outgoing_filter_awaits_before_calling_on()
    {
        var shard = ClusterFixture.NewShard("yielding-filter");
        var writer = fixture.Shards.Writer(shard);
        await writer.CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        await using var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        var leased = await reader.SnapshotAsync(0);
        Assert.Equal([("a", "v", (Int128)1)], (await reader.ReadAsync(leased)).ToArray());
        await fixture.HeartbeatAsync(reader);
        await reader.DowngradeSinceAsync(F(1));
        await fixture.HeartbeatAsync(reader);
        Assert.True((await reader.InspectAsync()).IsLive);
        Assert.True(YieldingFilterFixture.Calls > 0);
    }
}
