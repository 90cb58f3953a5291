using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Leases.Tests.Infrastructure;
using Orleans.Runtime;
using static Orleans.Leases.Tests.Infrastructure.U;

namespace Orleans.Leases.Tests.Readers;

/// <summary>Lease silos that collect idle activations after 2 s of real time.</summary>
public sealed class ShortCollectionFixture : LeaseClusterFixture
{
    protected override void ConfigureSilo(ISiloBuilder silo)
    {
        base.ConfigureSilo(silo);
        silo.Configure<GrainCollectionOptions>(o =>
        {
            o.CollectionAge = TimeSpan.FromSeconds(2);
            o.CollectionQuantum = TimeSpan.FromSeconds(1);
        });
    }
}

[CollectionDefinition(Name)]
public sealed class ShortCollectionCluster : ICollectionFixture<ShortCollectionFixture>
{
    public const string Name = "short collection cluster";
}

[Collection(ShortCollectionCluster.Name)]
public sealed class LeaseGrainLifetimeTests(ShortCollectionFixture fixture)
{
    [Fact]
    public async Task An_idle_live_lease_keeps_its_grain_and_a_closed_one_lets_it_go()
    {
        var shard = ClusterFixture.NewShard("collection");
        await fixture.Shards.Writer(shard).CompareAndAppendAsync([At(0, "a")], F(0), F(1));
        var reader = await fixture.Shards.OpenReaderAsync(shard, fixture.Settings);
        var grainId = fixture.Client.GetGrain<IReaderLeaseGrain>(ReaderLeaseKey.Format(shard, reader.Reader)).GetGrainId();
        Assert.True(fixture.Cluster.TryGetGrainContext(grainId, out var opened));

        // Idle for well past the collection age (real time: collection does not follow the fake clock).
        await Task.Delay(TimeSpan.FromSeconds(5));

        Assert.True(fixture.Cluster.TryGetGrainContext(grainId, out var idle));
        Assert.Equal(opened.ActivationId, idle.ActivationId);

        await reader.DisposeAsync();
        await fixture.Cluster.WaitForDeactivationAsync(grainId).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(fixture.Cluster.TryGetGrainContext(grainId, out _));
    }
}
